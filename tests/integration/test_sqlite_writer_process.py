"""The SQLite writer process (adapters/sqlite_writer.py): a real child process runs and commits
the write groups of a host's deferring units; a group it cannot commit runs again in the host,
unit by unit, so that a conflict fails only its own unit; a dead child leaves the host writing
itself; and a checkpoint's fenced result comes back from it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from adapters.sqlite import SqliteEventStore, SqliteViewStore
from adapters.sqlite_database import WRITER_PROCESS_UNITS, SqliteDatabase
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


def queued(database: SqliteDatabase, units: list[Callable[[], object]]) -> list[object]:
    """Run `units` on threads of their own, queued behind a leader whose one write cannot go
    to the child (it runs in the host, slowly), so that the next leader runs them as one
    group: each unit's result, or the ConcurrencyConflict it raised."""
    leading, results = threading.Event(), [None] * len(units)

    def slow(conn: object) -> None:
        leading.set()
        time.sleep(0.3)

    def first() -> None:
        with database.transaction(deferred=True):
            database.defer("test", "slow", None, slow)

    def run(n: int) -> None:
        try:
            results[n] = units[n]()
        except ConcurrencyConflict as conflict:
            results[n] = conflict

    leader = threading.Thread(target=first)
    leader.start()
    leading.wait(10)
    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(units))]
    for thread in threads:
        thread.start()
    for thread in [leader, *threads]:
        thread.join(30)
    return results


def fillers(database: SqliteDatabase, count: int) -> list[Callable[[], object]]:
    """Units of appends to streams of their own, so that a group is big enough to be sent to
    the writer process (WRITER_PROCESS_UNITS)."""
    store = SqliteEventStore(database)
    return [
        unit(
            database,
            lambda n=n: store.append(f"quote-F{n}", 0, batch(f"quote-F{n}", 0, 1), f"f{n}"),
        )
        for n in range(count)
    ]


def unit(database: SqliteDatabase, write: Callable[[], object]) -> Callable[[], object]:
    def deferring() -> object:
        with database.transaction(deferred=True, verify=False):
            outcome = [write()]
        return outcome[0]  # once committed

    return deferring


def test_a_group_of_units_is_committed_by_the_writer_process_and_read_by_everyone(
    database: SqliteDatabase,
) -> None:
    store, views = SqliteEventStore(database), SqliteViewStore(database)
    queued(
        database,
        [
            unit(database, lambda: store.append("quote-Q1", 0, batch("quote-Q1", 0, 2), "c-1")),
            unit(database, lambda: views.save(QuoteView(id="Q1", customerId="C1"), None)),
            *fillers(database, WRITER_PROCESS_UNITS - 2),
        ],
    )
    assert database.stats()["writer process groups"] == 1  # the child wrote them
    reader = SqliteEventStore(database.path)
    assert [e.sequenceNumber for e in reader.read_stream("quote-Q1")] == [1, 2]
    stored = SqliteViewStore(database.path).get("Q1")
    assert stored is not None
    assert stored.view.customerId == "C1"


def test_a_small_group_is_written_by_the_host_itself(database: SqliteDatabase) -> None:
    queued(database, fillers(database, WRITER_PROCESS_UNITS - 1))
    reader = SqliteEventStore(database.path)
    assert [len(reader.read_stream(f"quote-F{n}")) for n in range(3)] == [1, 1, 1]
    assert "writer process groups" not in database.stats()


def test_a_unit_that_conflicts_in_the_writer_process_fails_alone_and_the_others_commit(
    database: SqliteDatabase,
) -> None:
    store = SqliteEventStore(database)
    store.append("quote-Q3", 0, batch("quote-Q3", 0, 1, tag="first"), "cmd-first")

    def append(n: int) -> Callable[[], object]:
        return unit(
            database, lambda: store.append(f"quote-Q{n}", 0, batch(f"quote-Q{n}", 0, 1), f"cmd-{n}")
        )

    results = queued(database, [append(n) for n in range(5)])
    assert [isinstance(r, ConcurrencyConflict) for r in results] == [
        False,
        False,
        False,
        True,
        False,
    ]
    assert database.stats()["writer process fallbacks"] == 1  # the group with Q3 in it
    assert [e.eventId for e in store.read_stream("quote-Q3")] == ["evt-quote-Q3-1-first"]
    assert [len(store.read_stream(f"quote-Q{n}")) for n in (0, 1, 2, 4)] == [1, 1, 1, 1]
    assert database._child is not None  # a failed group is not a dead child


def test_a_dead_writer_process_leaves_the_host_writing_itself(database: SqliteDatabase) -> None:
    store = SqliteEventStore(database)
    assert database._child is not None
    database._child.process.kill()
    database._child.process.wait(10)

    def append(n: int) -> Callable[[], object]:
        return unit(
            database, lambda: store.append(f"quote-Q{n}", 0, batch(f"quote-Q{n}", 0, 1), f"cmd-{n}")
        )

    queued(database, [append(1), append(2), *fillers(database, WRITER_PROCESS_UNITS - 2)])
    reader = SqliteEventStore(database.path)
    assert [len(reader.read_stream(f"quote-Q{n}")) for n in (1, 2)] == [1, 1]
    assert database._child is None


def test_checkpoints_moved_by_the_writer_process_are_fenced_by_their_leases(
    database: SqliteDatabase,
) -> None:
    owner, other = LeaseKeeper(database, "one", ["a"], 5), LeaseKeeper(database, "two", ["a"], 5)
    owner.heartbeat()
    assert owner.try_acquire("a")
    moves = [lambda: owner.save_checkpoint("a", 7), lambda: other.save_checkpoint("a", 9)]
    moved = queued(database, [*moves, *fillers(database, WRITER_PROCESS_UNITS - 2)])
    assert moved[:2] == [True, False]  # not its lease: the child's UPDATE moved no row
    assert database.stats()["writer process groups"] == 1
    assert owner.checkpoint("a") == 7
