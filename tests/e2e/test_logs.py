"""What `python -m devhost` prints by default, as an operator follows one quote in it: a line
per invocation with its outcome (an HTTP status as it was), a line per saga transition with
its reason, each starting with the quote's id. The promised format is what is asserted."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from devhost.client import Client, free_port
from tests.e2e.hosts import REPO, HostProcess, host_environment, wait_until_quiet
from tests.e2e.test_step_timeouts import FAST_TIMEOUTS, disabled
from tests.support.builders import ACCEPTED_PREMIUM, OVER_LIMIT_PREMIUM, underwriting_refusal

pytestmark = pytest.mark.e2e

LINE = re.compile(
    r"^(?P<time>\d\d:\d\d:\d\d\.\d{3}) (?P<level>[DIWE]) (?P<subject>\S+) (?P<text>.*)$"
)
REASON = re.escape(underwriting_refusal())


@contextmanager
def serve(data_dir: Path, settings: dict[str, str] | None = None) -> Iterator[Client]:
    """`python -m devhost` with no log options, its output in data_dir/host.log."""
    port = free_port()
    env = host_environment(settings)
    with (data_dir / "host.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "devhost", "--data-dir", str(data_dir), "--port", str(port)],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    try:
        client = Client(f"http://127.0.0.1:{port}")
        client.wait_until_ready(timeout=30)
        yield client
        wait_until_quiet(client)
    finally:
        process.terminate()
        process.wait(timeout=30)


def lines(data_dir: Path) -> list[dict[str, str]]:
    """Every log line, parsed; the one line that is no log line is the start banner."""
    text = (data_dir / "host.log").read_text().splitlines()
    parsed = [LINE.match(line) for line in text if not line.startswith("devhost listening on")]
    assert all(parsed), [line for line, match in zip(text, parsed, strict=False) if not match]
    return [m.groupdict() for m in parsed if m]


def story(data_dir: Path, quote_id: str) -> list[str]:
    """What the lines about one quote say, in order (its `grep`)."""
    return [line["text"] for line in lines(data_dir) if quote_id in line["subject"].split(",")]


def in_order(texts: list[str], *patterns: str) -> None:
    """Each pattern matches a line after the one the previous pattern matched."""
    position = 0
    for pattern in patterns:
        found = next((i for i in range(position, len(texts)) if re.search(pattern, texts[i])), None)
        assert found is not None, f"no line matches {pattern!r} after line {position}: {texts}"
        position = found + 1


def test_the_default_log_tells_each_quotes_story_first_by_its_id(tmp_path):
    with serve(tmp_path) as client:
        client.create_quote("C-1", ACCEPTED_PREMIUM, "Q-ok")
        client.approve("Q-ok")
        client.create_quote("C-1", OVER_LIMIT_PREMIUM, "Q-big")
        client.approve("Q-big")
        assert client.request("POST", "/api/quotes", {"premium": str(ACCEPTED_PREMIUM)})[0] == 400
        assert client.request("GET", "/api/quotes/Q-none")[0] == 404
        client.wait_until_terminal("Q-ok")
        client.wait_until_terminal("Q-big")
    ms = r" \d+\.\dms"
    # A function's own line follows its commit, which may wake an orchestrator first (with
    # two worker processes, the other one's): the approval's line follows the creation's, and
    # the saga's start follows the creation, not necessarily the approval's line.
    approve = rf"^approve_quote POST /api/quotes/Q-ok/approve 202{ms}$"
    in_order(story(tmp_path, "Q-ok"), rf"^create_quote POST /api/quotes 201{ms}$", approve)
    started = (
        r"^saga new -> Running at CreatePolicy on QuoteApproved eventId=\S+ sagaEvent=SagaStarted"
        r" commands=CreatePolicy:\S+$"
    )
    until_policy = [
        rf"^create_quote POST /api/quotes 201{ms}$",
        started,
        r"^CreatePolicy appended commandId=\S+ streamVersion=1 events=PolicyCreated$",
    ]
    in_order(story(tmp_path, "Q-ok"), *until_policy, rf"^handle_policy_commands ok{ms}$")
    # The orchestrator's own line follows the transition it logged; it follows its commit
    # too, which may wake the policy handler first, so it is not ordered against its lines.
    in_order(story(tmp_path, "Q-ok"), started, rf"^orchestrate ok{ms}")
    # Likewise the saga's next transition follows the handler's append, not its line.
    in_order(
        story(tmp_path, "Q-ok"),
        *until_policy,
        r"^saga Running -> Running at UpdateCustomerPolicyCount on PolicyCreated ",
        r"^saga Running -> Completed on CustomerPolicyCountUpdated eventId=\S+ "
        r"sagaEvent=SagaCompleted$",
    )
    in_order(
        story(tmp_path, "Q-big"),
        r"^saga new -> Running at CreatePolicy on QuoteApproved ",
        r"^CreatePolicy appended .* events=PolicyCreationFailed$",
        rf"^saga Running -> Compensating at RejectQuote on PolicyCreationFailed: {REASON} "
        r"eventId=\S+ sagaEvent=SagaCompensationStarted commands=RejectQuote:\S+$",
        r"^RejectQuote appended .* events=QuoteRejected$",
        rf"^saga Compensating -> Compensated on QuoteRejected: {REASON} eventId=",
    )
    [missing] = story(tmp_path, "Q-none")
    assert re.fullmatch(rf"get_quote GET /api/quotes/Q-none 404{ms}", missing)
    refused = [line for line in lines(tmp_path) if " 400 " in line["text"]]
    assert [(line["level"], line["subject"]) for line in refused] == [("I", "devhost")]
    assert re.fullmatch(rf"create_quote POST /api/quotes 400{ms}", refused[0]["text"])
    # The app's own per-request and per-batch lines give way to the host's line.
    summaries = re.compile(r" batch=\d+ processed=|requestId=")
    assert not [line for line in lines(tmp_path) if summaries.search(line["text"])]


def test_a_timed_out_step_is_a_warning_that_names_the_step_and_its_deadline(tmp_path):
    settings = FAST_TIMEOUTS | disabled("handle_policy_commands")
    with serve(tmp_path, settings) as client:
        client.create_quote("C-1", ACCEPTED_PREMIUM, "Q-stall")
        client.approve("Q-stall")
        client.wait_until_terminal("Q-stall")
    about = [line for line in lines(tmp_path) if line["subject"] == "Q-stall"]
    [timed_out] = [line for line in about if "on StepTimedOut" in line["text"]]
    assert timed_out["level"] == "W"
    assert re.match(
        r"saga Running -> Compensating at RejectQuote on StepTimedOut: step CreatePolicy passed "
        r"its deadline \S+ eventId=\S+ sagaEvent=SagaCompensationStarted "
        r"commands=CancelPolicy:\S+,RejectQuote:\S+$",
        timed_out["text"],
    )


def test_a_host_started_at_warning_as_the_tests_and_the_bench_do_logs_no_saga(tmp_path):
    host = HostProcess(tmp_path).start()
    try:
        host.client.create_quote("C-1", OVER_LIMIT_PREMIUM, "Q-big")
        host.client.approve("Q-big")
        host.client.wait_until_terminal("Q-big")
        wait_until_quiet(host.client)
    finally:
        assert host.terminate() == 0
    logged = (tmp_path / "host.log").read_text().splitlines()
    assert [line for line in logged if not line.startswith("devhost listening on")] == []
