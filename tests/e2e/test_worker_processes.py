"""`python -m devhost` as a user starts it: two worker processes on one port and one data
directory (devhost/workers.py). Both take work, one that dies is replaced, a stop stops both,
and `kill -9` of the supervisor takes its workers with it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devhost.client import Client, free_port
from tests.e2e.hosts import REPO, HostProcess, children, host_environment
from tests.support.builders import accepted_premium

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(sys.platform != "linux", reason="worker processes are Linux's default"),
]


def lease_owners(data_dir: Path) -> set[str]:
    with contextlib.closing(sqlite3.connect(data_dir / "store.db")) as conn:
        rows = conn.execute("SELECT owner FROM devhost_leases WHERE owner IS NOT NULL")
        return {owner for (owner,) in rows}


def wait_for(condition, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := condition():
            return found
        time.sleep(0.1)
    raise TimeoutError(condition)


def run_sagas(client: Client, name: str, n: int) -> None:
    for i in range(n):
        client.create_quote(f"C-{name}-{i}", accepted_premium(i), f"Q-{name}-{i}", patience=30)
        client.approve(f"Q-{name}-{i}", patience=30)
    for i in range(n):
        assert (
            client.wait_until_terminal(f"Q-{name}-{i}", timeout=60)["saga"]["status"] == "Completed"
        )


def test_two_workers_share_the_work_and_a_stop_stops_both_and_hands_their_leases_back(
    tmp_path: Path,
) -> None:
    host = HostProcess(tmp_path, lease_seconds=2.0).start()
    assert host.process is not None
    try:
        workers = wait_for(
            lambda: len(children(host.process.pid)) == 2 and children(host.process.pid)
        )
        run_sagas(host.client, "both", 10)
        # Each worker holds its share of the leases (a change-feed range, hub partitions).
        assert (
            len(wait_for(lambda: len(lease_owners(tmp_path)) == 2 and lease_owners(tmp_path))) == 2
        )
        assert sorted(
            int(p.name.partition("-")[0]) for p in (tmp_path / "doorbells").iterdir()
        ) == sorted(workers)
    finally:
        rc = host.terminate()
    assert rc == 0
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
    assert lease_owners(tmp_path) == set()
    assert list((tmp_path / "doorbells").iterdir()) == []


def started_workers(supervisor: int, log: Path) -> list[int]:
    """The supervisor's workers that say they serve (a worker's owner id carries its pid)."""
    serving = [line for line in log.read_text().splitlines() if " serving " in line]
    return [pid for pid in children(supervisor) if any(f":{pid}:" in s for s in serving)]


def test_a_worker_that_dies_is_replaced_and_the_sagas_still_end(tmp_path: Path) -> None:
    host = HostProcess(tmp_path, lease_seconds=2.0, log_level="INFO").start()
    assert host.process is not None
    supervisor = host.process.pid
    try:
        first, second = wait_for(lambda: len(w := started_workers(supervisor, host.log)) == 2 and w)
        run_sagas(host.client, "before", 3)
        os.kill(first, signal.SIGKILL)  # it had started: the supervisor starts another
        replaced = wait_for(
            lambda: len(w := started_workers(supervisor, host.log)) == 2 and first not in w and w
        )
        assert second in replaced
        run_sagas(host.client, "after", 5)
    finally:
        assert host.terminate() == 0
    assert "exited (-9); starting another" in host.log.read_text()


def test_kill_9_of_the_supervisor_takes_its_workers_with_it(tmp_path: Path) -> None:
    host = HostProcess(tmp_path, lease_seconds=2.0).start()
    assert host.process is not None
    workers = wait_for(lambda: len(children(host.process.pid)) == 2 and children(host.process.pid))
    host.kill()
    wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers), timeout=10)
    # Nothing holds the port: a new host serves on it, and ends what is started there.
    again = host.start()
    try:
        run_sagas(again.client, "again", 3)
    finally:
        assert again.terminate() == 0


def test_a_worker_that_fails_at_its_start_stops_the_host_with_exit_1(tmp_path: Path) -> None:
    env = host_environment()
    env["DEVHOST_FEED_RANGES"] = "two"  # not a number: each worker fails as it starts
    port = free_port()
    result = subprocess.run(
        [sys.executable, "-m", "devhost", "--data-dir", str(tmp_path), "--port", str(port)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "failed at its start" in result.stderr


def test_a_host_on_a_port_in_use_says_so_and_exits_1(tmp_path: Path) -> None:
    env = host_environment()
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "devhost", "--data-dir", str(tmp_path), "--port", str(port)],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


@contextlib.contextmanager
def in_a_terminal(data_dir: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m devhost` as a terminal runs it, in a session of its own (so that a test can
    send the terminal's Ctrl-C to its process group); killed if a failed test leaves it."""
    env = host_environment()
    with (data_dir / "host.log").open("wb") as log:
        host = subprocess.Popen(
            [sys.executable, "-m", "devhost", "--data-dir", str(data_dir), "--port", str(port)],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        yield host
    finally:
        if host.poll() is None:
            os.killpg(host.pid, signal.SIGKILL)  # its workers die with it (PR_SET_PDEATHSIG)
            host.wait(10)


def test_ctrl_c_to_the_terminals_process_group_stops_every_process_cleanly(tmp_path: Path) -> None:
    port = free_port()
    with in_a_terminal(tmp_path, port) as host:
        client = Client(f"http://127.0.0.1:{port}")
        wait_for(lambda: len(started_workers(host.pid, tmp_path / "host.log")) == 2)
        run_sagas(client, "interrupted", 2)
        os.killpg(host.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: every process of it
        assert host.wait(timeout=60) == 0
    text = (tmp_path / "host.log").read_text()
    assert "Traceback" not in text
    assert text.count(" stopped") == 2  # each worker's graceful stop


def test_ctrl_c_while_the_workers_start_stops_the_host_without_a_traceback(tmp_path: Path) -> None:
    log = tmp_path / "host.log"
    with in_a_terminal(tmp_path, 0) as host:
        wait_for(lambda: "listening" in log.read_text(), timeout=30)  # the workers are starting
        workers = children(host.pid)
        assert len(workers) == 2
        # Outside the terminal's process group, so its Ctrl-C reaches the supervisor only
        # (which stops them); a worker still importing would die of a SIGINT with a traceback.
        assert all(os.getpgid(pid) != host.pid for pid in workers)
        os.killpg(host.pid, signal.SIGINT)
        assert host.wait(timeout=60) == 0
    assert "Traceback" not in log.read_text()


def test_a_process_count_that_is_no_number_is_refused_in_one_line(tmp_path: Path) -> None:
    env = host_environment()
    env["DEVHOST_PROCESSES"] = "two"
    result = subprocess.run(
        [sys.executable, "-m", "devhost", "--data-dir", str(tmp_path), "--port", str(free_port())],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip() == "DEVHOST_PROCESSES must be a whole number from 1, not 'two'"
