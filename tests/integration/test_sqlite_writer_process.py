"""The SQLite writer process (adapters/sqlite_writer.py): a real child process runs and commits
the write groups of a host's deferring units; a group it cannot commit runs again in the host,
unit by unit, so that a conflict fails only its own unit; a dead child leaves the host writing
itself; and a checkpoint's fenced result comes back from it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from adapters.sqlite import SqliteEventStore, SqliteViewStore
from adapters.sqlite_database import SqliteDatabase
from application.ports import ConcurrencyConflict
from application.read_model import QuoteView
from devhost.leases import LeaseKeeper
from tests.support.builders import batch

pytestmark = pytest.mark.integration


@pytest.fixture
def database(tmp_path: Path):
    database = SqliteDatabase(tmp_path / "store.db")
    SqliteEventStore(database), SqliteViewStore(database)
    LeaseKeeper(database, "host", [], 5)
    database.use_writer_process()
    yield database
    database.close()


def test_a_group_of_units_is_committed_by_the_writer_process_and_read_by_everyone(
    database: SqliteDatabase,
) -> None:
    store, views = SqliteEventStore(database), SqliteViewStore(database)
    before = database.stats().get("commits", 0)
    with database.transaction(deferred=True, verify=False):
        store.append("quote-Q1", 0, batch("quote-Q1", 0, 2), "cmd-1")
        views.save(QuoteView(id="Q1", customerId="C1"), None)
    reader = SqliteEventStore(database.path)
    assert [e.sequenceNumber for e in reader.read_stream("quote-Q1")] == [1, 2]
    stored = SqliteViewStore(database.path).get("Q1")
    assert stored is not None
    assert stored.view.customerId == "C1"
    assert database.stats()["commits"] - before == 1
    assert database.stats()["writer process groups"] == 1  # the child wrote it


def test_a_unit_that_conflicts_in_the_writer_process_fails_alone_and_the_others_commit(
    database: SqliteDatabase,
) -> None:
    store = SqliteEventStore(database)
    store.append("quote-Q3", 0, batch("quote-Q3", 0, 1, tag="first"), "cmd-first")
    leading, outcomes = threading.Event(), {}

    def slow(conn: object) -> None:  # not batchable: this leader runs it here, the others queue
        leading.set()
        time.sleep(0.3)

    def first() -> None:
        with database.transaction(deferred=True):
            database.defer("test", "slow", None, slow)

    def unit(n: int) -> None:
        try:
            with database.transaction(deferred=True, verify=False):
                store.append(f"quote-Q{n}", 0, batch(f"quote-Q{n}", 0, 1), f"cmd-{n}")
            outcomes[n] = "committed"
        except ConcurrencyConflict:
            outcomes[n] = "conflict"

    leader = threading.Thread(target=first)
    leader.start()
    leading.wait(10)
    units = [threading.Thread(target=unit, args=(n,)) for n in range(5)]
    for thread in units:
        thread.start()
    for thread in [leader, *units]:
        thread.join(30)
    assert outcomes == {n: "conflict" if n == 3 else "committed" for n in range(5)}
    assert [e.eventId for e in store.read_stream("quote-Q3")] == ["evt-quote-Q3-1-first"]
    assert database.stats()["writer process fallbacks"] == 1  # the group with Q3 in it
    assert database._child is not None  # a failed group is not a dead child


def test_a_dead_writer_process_leaves_the_host_writing_itself(database: SqliteDatabase) -> None:
    store = SqliteEventStore(database)
    assert database._child is not None
    database._child.process.kill()
    database._child.process.wait(10)
    with database.transaction(deferred=True, verify=False):
        store.append("quote-Q1", 0, batch("quote-Q1", 0, 1), "cmd-1")
    assert len(SqliteEventStore(database.path).read_stream("quote-Q1")) == 1
    assert database._child is None


def test_a_checkpoint_moved_by_the_writer_process_is_fenced_by_the_lease(
    database: SqliteDatabase,
) -> None:
    owner, other = LeaseKeeper(database, "one", ["a"], 5), LeaseKeeper(database, "two", ["a"], 5)
    owner.heartbeat()
    assert owner.try_acquire("a")
    assert owner.save_checkpoint("a", 7)
    assert other.checkpoint("a") == 7
    assert not other.save_checkpoint("a", 9)  # not its lease: the child's UPDATE moved no row
    assert owner.checkpoint("a") == 7
