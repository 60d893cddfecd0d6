"""`python -m devhost sagas` and `python -m devhost show` as a user runs them, as processes:
against a running host over HTTP, and against its data directory, printing the same."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.e2e.hosts import REPO, HostProcess, wait_until_quiet
from tests.support.builders import ACCEPTED_PREMIUM, OVER_LIMIT_PREMIUM, underwriting_refusal

pytestmark = pytest.mark.e2e

REFUSAL = underwriting_refusal()
# devhost/timeline.py's line: offset from the first event, stream, event type, reason.
TIMELINE_LINE = re.compile(r"   \+ *[0-9]+\.[0-9] ms  (?P<stream>\S+) +(?P<event>\w+)(  - .+)?")


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("cli-host")
    host = HostProcess(data_dir).start()
    try:
        host.client.create_quote("C-happy", ACCEPTED_PREMIUM, "Q-done")
        host.client.approve("Q-done")
        host.client.create_quote("C-big", OVER_LIMIT_PREMIUM, "Q-refused")
        host.client.approve("Q-refused")
        assert host.client.wait_until_terminal("Q-done")["saga"]["status"] == "Completed"
        assert host.client.wait_until_terminal("Q-refused")["saga"]["status"] == "Compensated"
        wait_until_quiet(host.client)
        yield host
    finally:
        host.kill()


def devhost(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devhost", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def both_ways(host: HostProcess, *args: str) -> str:
    """The command's output over HTTP, checked to be the data directory's output too."""
    over_http = devhost(*args, "--url", f"http://127.0.0.1:{host.port}")
    from_files = devhost(*args, "--data-dir", str(host.data_dir))
    assert over_http.returncode == 0, over_http.stderr
    assert from_files.returncode == 0, from_files.stderr
    assert over_http.stdout == from_files.stdout
    return over_http.stdout


def rows(table: str) -> list[list[str]]:
    """The table's rows after its header, split on the column gaps."""
    lines = table.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("QUOTE"))
    return [[c for c in line.split("  ") if c.strip()] for line in lines[start + 1 :] if line]


def test_sagas_prints_the_counts_and_a_row_per_saga_most_recent_first(host):
    table = both_ways(host, "sagas")

    assert table.splitlines()[0] == (
        "Running 0  Compensating 0  Completed 1  Compensated 1  (stuck 0)"
    )
    done, refused = sorted(rows(table), key=lambda row: row[0])
    assert [c.strip() for c in refused[:5]] == ["Q-refused", "C-big", "Compensated", "-", "-"]
    assert refused[-1].strip() == REFUSAL
    assert [c.strip() for c in done[:5]] == ["Q-done", "C-happy", "Completed", "-", "-"]
    assert done[-1].strip() == "-"  # no reason: nothing went wrong


def test_sagas_filters_by_status_and_customer_and_pages_with_a_limit(host):
    assert [row[0].strip() for row in rows(both_ways(host, "sagas", "--status", "Completed"))] == [
        "Q-done"
    ]
    assert [row[0].strip() for row in rows(both_ways(host, "sagas", "--customer", "C-big"))] == [
        "Q-refused"
    ]
    assert "(no saga matches)" in both_ways(host, "sagas", "--stuck")

    first = both_ways(host, "sagas", "--limit", "1")
    token = first.rsplit("--continuation ", 1)[1].strip()
    second = both_ways(host, "sagas", "--limit", "1", "--continuation", token)
    listed = [row[0].strip() for page in (first, second) for row in rows(page.split("\n\nmore")[0])]
    assert sorted(listed) == ["Q-done", "Q-refused"]
    assert "more:" not in second


def test_show_prints_the_timeline_as_the_demo_does_with_the_reasons(host):
    shown = both_ways(host, "show", "Q-refused")

    lines = shown.splitlines()
    assert lines[0] == (
        f"Q-refused - customer C-big, premium {OVER_LIMIT_PREMIUM:,.2f}, quote Rejected: "
        "saga Compensated"
    )
    entries = [TIMELINE_LINE.fullmatch(line) for line in lines[1:]]
    assert all(entries), lines
    events = [entry["event"] for entry in entries]
    assert events[:3] == ["QuoteCreated", "QuoteApproved", "SagaStarted"]
    assert events[-1] == "SagaCompensated"
    assert {"PolicyCreationFailed", "SagaCompensationStarted", "QuoteRejected"} <= set(events)
    assert [entry["stream"] for entry in entries][:3] == ["quote-Q-refused"] * 2 + [
        "saga-Q-refused"
    ]
    assert f"SagaCompensationStarted  - {REFUSAL}" in shown


def test_a_completed_saga_shows_its_policy_and_every_step(host):
    shown = both_ways(host, "show", "Q-done")

    assert shown.splitlines()[0].endswith("quote Approved: saga Completed")
    assert "   policy " in shown
    assert "SagaCompleted" in shown


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("show", "Q-nobody"), "quote Q-nobody does not exist"),
        (("sagas", "--limit", "0"), "limit must be an integer from 1 to 100"),
        (("sagas", "--continuation", "nonsense"), "continuation"),
    ],
)
def test_a_wrong_request_exits_1_with_the_reason_both_ways(host, args, message):
    for where in (("--url", f"http://127.0.0.1:{host.port}"), ("--data-dir", str(host.data_dir))):
        done = devhost(*args, *where)
        assert done.returncode == 1, done.stdout
        assert message in done.stderr
        assert done.stdout == ""


def test_a_directory_without_a_store_is_an_error_not_an_empty_store(tmp_path):
    done = devhost("sagas", "--data-dir", str(tmp_path / "nothing"))

    assert done.returncode == 1
    assert "no store in" in done.stderr
    assert not (tmp_path / "nothing").exists()
