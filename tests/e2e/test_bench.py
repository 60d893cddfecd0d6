"""`python -m devhost bench` as a user runs it: a small mixed run verifies every saga's outcome
and every customer's count, a run held to a wrong expectation fails naming what is wrong, and a
bench stopped with SIGTERM leaves none of its hosts running."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.e2e.hosts import REPO, descendants

pytestmark = pytest.mark.e2e


def bench(*extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "devhost", "bench", "--sagas", "40", "--workload", "mixed"]
    return subprocess.run(
        [*command, *extra],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
        env=None if env is None else {**os.environ, **env},
    )


def test_a_mixed_bench_run_verifies_every_outcome_and_reports_its_costs():
    run = bench()
    assert run.returncode == 0, run.stdout + run.stderr
    verified = re.search(r"verified +every outcome: 40 sagas \((?P<kinds>[^)]*)\)", run.stdout)
    assert verified, run.stdout
    kinds = {kind: int(n) for n, kind in re.findall(r"(\d+) ([^,]+)", verified["kinds"])}
    assert kinds["Compensated: underwriting"] == 4  # every 10th premium
    assert kinds["Compensated: policy limit"] > 0
    assert kinds["Completed"] > 0
    assert re.search(r"commits [0-9.]+ +fsyncs ~[0-9.]+ \(derived", run.stdout), run.stdout
    assert re.search(r"peak RSS +[0-9]+ MiB", run.stdout), run.stdout


def test_a_run_held_to_a_wrong_policy_limit_fails_naming_the_customers():
    run = bench("--expect-max-policies", "6")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "VERIFY FAILED" in run.stdout
    assert re.search(r"customer \S+: 5 sagas Completed, expected 6", run.stdout), run.stdout


def test_two_hosts_on_a_feed_of_two_ranges_end_every_saga_as_it_should():
    """Each host takes one range of the change feed (and half of each hub's partitions), and
    every outcome and count is still right; the writer processes write the groups."""
    run = bench("--hosts", "2", env={"DEVHOST_FEED_RANGES": "2"})
    assert run.returncode == 0, run.stdout + run.stderr
    assert "verified    every outcome: 40 sagas" in run.stdout, run.stdout
    assert re.search(r"CPU +[0-9.]+ ms per saga", run.stdout), run.stdout


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_bench_sent_sigterm_stops_the_hosts_it_started():
    command = [sys.executable, "-m", "devhost", "bench", "--sagas", "100000", "--rate", "20"]
    process = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in process.stderr:
            lines.put(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    started: list[int] = []
    try:
        while "approved" not in lines.get(timeout=120):  # a progress line: its sagas are under way
            pass
        started = descendants(process.pid)
        assert len(started) >= 2  # its host processes and their SQLite writer processes
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 130
        assert [pid for pid in started if running(pid)] == []
        reader.join(timeout=10)
        rest = "".join(lines.get() for _ in range(lines.qsize()))
        assert "Traceback" not in rest
        assert "interrupted; the hosts it started are stopped" in rest
    finally:
        process.kill()
        for pid in started:
            if running(pid):
                os.kill(pid, signal.SIGKILL)
