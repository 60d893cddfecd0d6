"""A full disk under the local host: requests are answered 503 problem+json with Retry-After,
the log names the real cause, SIGTERM still exits 0, and nothing committed is lost once space
comes back. The disk is a small tmpfs the test mounts (root only)."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.e2e.hosts import HostProcess
from tests.support.builders import ACCEPTED_PREMIUM

pytestmark = pytest.mark.e2e


def mount(path: Path, size: str) -> None:
    path.mkdir(exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)


@pytest.fixture
def small_disk(tmp_path):
    disk = tmp_path / "disk"
    if os.geteuid() != 0:
        pytest.skip("mounting the small tmpfs this test fills needs root (mount -t tmpfs)")
    try:
        mount(disk, "1m")
    except (OSError, subprocess.CalledProcessError) as error:
        pytest.skip(f"cannot mount a tmpfs here ({error}): the full-disk test needs one")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def create(host: HostProcess, quote_id: str) -> tuple[int, dict[str, str], object]:
    connection = host.client._connection()
    body = json.dumps({"customerId": "C-1", "premium": str(ACCEPTED_PREMIUM), "quoteId": quote_id})
    connection.request("POST", "/api/quotes", body, {"Content-Type": "application/json"})
    response = connection.getresponse()
    text = response.read()
    return response.status, dict(response.getheaders()), json.loads(text) if text else None


def test_a_full_disk_answers_503_problems_exits_cleanly_and_loses_nothing(small_disk):
    (small_disk / "data").mkdir()
    host = HostProcess(small_disk / "data")
    late = HostProcess(small_disk / "data", name="late", log_dir=small_disk.parent)
    again = HostProcess(small_disk / "data", name="after")
    try:
        host.start()
        created, refused = fill(host)
        # A host started on the full disk starts (its first heartbeat may fail) and answers.
        late.start()
        assert create(late, f"Q-{uuid.uuid4().hex[:8]}")[0] in (201, 503)
        assert late.terminate() == 0
        assert "Traceback" not in late.log.read_text()
        assert host.terminate() == 0  # SIGTERM while full: finishes what it can, exits 0
        log = host.log.read_text()
        assert "database or disk is full" in log
        assert "cannot rollback" not in log
        assert "Traceback" not in log

        subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
        again.start()
        for quote_id in created:  # every quote answered 201 was kept
            assert again.client.quote(quote_id)["quote"]["quoteId"] == quote_id
        for quote_id in refused[:3]:  # and what was refused can be sent again
            assert create(again, quote_id)[0] == 201
    finally:
        for process in (host, late, again):  # a failed assertion must not leave a host running
            if process.alive():
                process.kill()


def fill(host: HostProcess) -> tuple[list[str], list[str]]:
    """Create quotes until 20 are refused; the ids answered 201 and those answered 503."""
    created: list[str] = []
    refused: list[str] = []
    for _ in range(3000):
        quote_id = f"Q-{uuid.uuid4().hex[:8]}"
        status, headers, body = create(host, quote_id)
        assert status in (201, 503), (status, body)
        if status == 201:
            created.append(quote_id)
            continue
        assert headers["Content-Type"].startswith("application/problem+json")
        assert int(headers["Retry-After"]) > 0
        assert body["status"] == 503
        refused.append(quote_id)
        if len(refused) >= 20:
            break
    assert created, "nothing was created before the disk filled up"
    assert len(refused) >= 20, "the disk never filled up"
    return created, refused
