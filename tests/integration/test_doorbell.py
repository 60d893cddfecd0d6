"""The doorbell (devhost/doorbell.py): a commit in one host process wakes the pumps of another on
the same data directory at once, not at their next poll."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from adapters.sqlite_database import SqliteDatabase
from devhost.doorbell import Doorbell

pytestmark = pytest.mark.integration

# Another host process: its doorbell, then a wait for the "events" topic far longer than a test.
WAITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from adapters.sqlite_database import SqliteDatabase
    from devhost.doorbell import Doorbell

    database = SqliteDatabase(sys.argv[1])
    bell = Doorbell(Path(sys.argv[2]), database)
    bell.start()
    print("ready", flush=True)
    database.wait_for_change(["events"], [0], 60)
    print(database.generation("events"), database.generation("views"), flush=True)
    bell.stop()
    """
)


def commit_changing(database: SqliteDatabase, topic: str) -> None:
    with database.transaction() as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS t (x)")
        conn.execute("INSERT INTO t VALUES (1)")
        database.changed(topic)


def test_a_commit_in_one_process_wakes_the_waiters_of_another_on_the_same_file(
    tmp_path: Path,
) -> None:
    bells = tmp_path / "doorbells"
    waiter = subprocess.Popen(
        [sys.executable, "-c", WAITER, str(tmp_path / "store.db"), str(bells)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert waiter.stdout is not None
    try:
        assert waiter.stdout.readline().strip() == "ready"
        database = SqliteDatabase(tmp_path / "store.db")
        bell = Doorbell(bells, database)
        bell.start()
        commit_changing(database, "views")  # a topic the waiter does not wait for
        commit_changing(database, "events")
        # Without the ring the waiter would sleep its 60 s and print "0 0".
        out, _ = waiter.communicate(timeout=30)
        assert out.split() == ["1", "1"]
        bell.stop()
    finally:
        waiter.kill()
        waiter.wait()


def test_a_host_forgets_the_doorbells_of_dead_processes_and_removes_its_own_when_it_stops(
    tmp_path: Path,
) -> None:
    bells = tmp_path / "doorbells"
    bells.mkdir()
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    (bells / f"{gone.stdout.strip()}-1").touch()
    database = SqliteDatabase(tmp_path / "store.db")
    bell = Doorbell(bells, database)
    bell.start()
    assert sorted(p.name for p in bells.iterdir()) == [f"{os.getpid()}-{bell.port}"]
    assert database.on_commit == bell.ring
    bell.stop()
    assert list(bells.iterdir()) == []
    assert database.on_commit is None


@contextmanager
def hosts_in_one_process(
    tmp_path: Path, n: int
) -> Iterator[tuple[list[SqliteDatabase], list[Doorbell]]]:
    """`n` database objects on one file, each with its doorbell started, as `n` hosts have."""
    databases = [SqliteDatabase(tmp_path / "store.db") for _ in range(n)]
    doorbells = [Doorbell(tmp_path / "doorbells", d) for d in databases]
    for bell in doorbells:
        bell.start()
    try:
        yield databases, doorbells
    finally:
        for bell in doorbells:
            bell.stop()


def test_a_ring_reaches_every_other_doorbell_and_not_its_own(tmp_path: Path) -> None:
    with hosts_in_one_process(tmp_path, 3) as (databases, _):
        commit_changing(databases[0], "events")
        for other in databases[1:]:
            other.wait_for_change(["events"], [0], 30)
        assert [d.generation("events") for d in databases] == [1, 1, 1]
        databases[0].wait_for_change(["events"], [1], 0.3)  # no echo of its own ring
        assert databases[0].generation("events") == 1


def test_a_stray_datagram_does_not_stop_a_doorbell(tmp_path: Path) -> None:
    with hosts_in_one_process(tmp_path, 2) as (databases, doorbells):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stray:
            stray.sendto(b"\xff\xfe not a topic \x80", ("127.0.0.1", doorbells[1].port))
        commit_changing(databases[0], "events")
        databases[1].wait_for_change(["events"], [0], 30)
        assert databases[1].generation("events") == 1
