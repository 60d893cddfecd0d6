"""The local host as a user runs it: the demo, and a graceful stop."""

from __future__ import annotations

import subprocess
import sys

import pytest

from devhost.__main__ import SWITCH_INTERVAL_SECONDS
from tests.e2e.hosts import REPO, HostProcess, open_store
from tests.support.builders import ACCEPTED_PREMIUM

pytestmark = pytest.mark.e2e


def test_the_demo_ends_each_saga_as_expected_and_exits_zero():
    done = subprocess.run(
        [sys.executable, "-m", "devhost", "demo"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # one "(ok)" for each case the demo announces it is expecting, none unexpected
    assert done.stdout.count("(ok)") == done.stdout.count(", expecting ") > 0


def test_sigterm_finishes_the_work_exits_zero_and_hands_the_leases_over(tmp_path):
    host = HostProcess(tmp_path, lease_seconds=30).start()
    host.client.create_quote("C-1", ACCEPTED_PREMIUM, "Q-1")
    host.client.approve("Q-1")
    assert host.client.wait_until_terminal("Q-1")["saga"]["status"] == "Completed"

    assert host.terminate() == 0

    database, _, _ = open_store(tmp_path)
    owners = database.connection().execute("SELECT owner FROM devhost_leases").fetchall()
    database.close()
    assert owners
    assert all(owner is None for (owner,) in owners)  # no need to wait 30 s for expiry
    successor = HostProcess(tmp_path, lease_seconds=30, name="successor").start()
    try:
        successor.client.create_quote("C-2", ACCEPTED_PREMIUM, "Q-2")
        successor.client.approve("Q-2")
        assert successor.client.wait_until_terminal("Q-2", timeout=10)["saga"]["status"] == (
            "Completed"
        )
    finally:
        successor.kill()


def test_a_started_host_tunes_its_interpreter_for_serving(tmp_path):
    host = HostProcess(tmp_path).start()
    try:
        status, stats = host.client.request("GET", "/admin/devhost/stats")
        assert status == 200
        # Tuned at its start (devhost/__main__.py): its modules, functions, the indexed app
        # frozen, and a longer GIL switch interval than Python's default.
        assert stats["gc"]["frozen"] > 50_000
        assert stats["switch_interval_s"] == pytest.approx(SWITCH_INTERVAL_SECONDS)
    finally:
        assert host.terminate() == 0
