"""Deferring units (adapters/sqlite_database.py): an invocation's writes are queued and run at its
end, by one leader for every unit queued by then, so the write lock is held for SQL only. Its
own reads see its queued writes, no one else does before its commit, and a queued write that
another writer beat fails the whole unit, which the local host then runs again."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from adapters.sqlite import SqliteEventStore, SqliteViewStore
from adapters.sqlite_database import SqliteDatabase
from application.ports import ConcurrencyConflict, Outcome
from application.read_model import QuoteView
from devhost.functions import Function
from devhost.invoker import Invoker
from devhost.retry import RetryPolicy
from tests.support.builders import batch

pytestmark = pytest.mark.unit


@pytest.fixture
def database(tmp_path: Path) -> SqliteDatabase:
    database = SqliteDatabase(tmp_path / "store.db")
    SqliteEventStore(database), SqliteViewStore(database)
    return database


def another_process_view(database: SqliteDatabase) -> tuple[SqliteEventStore, SqliteViewStore]:
    """Stores on the same file through their own connections, as another host would read it."""
    other = SqliteDatabase(database.path)
    return SqliteEventStore(other), SqliteViewStore(other)


def test_a_deferring_units_own_reads_see_its_queued_writes_and_no_one_else_does_before_it_ends(
    database: SqliteDatabase,
) -> None:
    store, views = SqliteEventStore(database), SqliteViewStore(database)
    other_store, other_views = another_process_view(database)
    with database.transaction(deferred=True):
        store.append("quote-Q1", 0, batch("quote-Q1", 0, 2), "cmd-1")
        store.append("quote-Q1", 2, batch("quote-Q1", 2, 1), "cmd-2")
        etag = views.save(QuoteView(id="Q1", customerId="C1"), None)
        assert [e.sequenceNumber for e in store.read_stream("quote-Q1")] == [1, 2, 3]
        assert [e.sequenceNumber for e in store.read_stream("quote-Q1", after=2)] == [3]
        seen = views.get("Q1")
        assert seen is not None
        assert (seen.etag, seen.view.customerId) == (etag, "C1")
        assert other_store.read_stream("quote-Q1") == []
        assert other_views.get("Q1") is None
    assert [e.sequenceNumber for e in other_store.read_stream("quote-Q1")] == [1, 2, 3]
    stored = other_views.get("Q1")
    assert stored is not None
    assert stored.etag == etag


def test_a_command_the_unit_already_queued_is_already_handled_and_the_version_moves_with_it(
    database: SqliteDatabase,
) -> None:
    store = SqliteEventStore(database)
    with database.transaction(deferred=True):
        assert store.append("quote-Q1", 0, batch("quote-Q1", 0, 1), "cmd-1") is Outcome.APPENDED
        again = store.append("quote-Q1", 0, batch("quote-Q1", 0, 1), "cmd-1")
        assert again is Outcome.ALREADY_HANDLED
        with pytest.raises(ConcurrencyConflict, match="at version 1, not 0"):
            store.append("quote-Q1", 0, batch("quote-Q1", 0, 1), "cmd-2")
    assert len(store.read_stream("quote-Q1")) == 1


def test_a_verifying_unit_finds_a_stale_version_or_etag_at_the_call(
    database: SqliteDatabase,
) -> None:
    store, views = SqliteEventStore(database), SqliteViewStore(database)
    store.append("quote-Q1", 0, batch("quote-Q1", 0, 1), "cmd-1")
    views.save(QuoteView(id="Q1"), None)
    with database.transaction(deferred=True, verify=True):
        with pytest.raises(ConcurrencyConflict, match="at version 1, not 0"):
            store.append("quote-Q1", 0, batch("quote-Q1", 0, 1), "cmd-2")
        with pytest.raises(ConcurrencyConflict, match="view Q1 exists"):
            views.save(QuoteView(id="Q1"), None)
        with pytest.raises(ConcurrencyConflict, match="changed since it was read"):
            views.save(QuoteView(id="Q1"), "not-its-etag")
        redelivered = store.append("quote-Q1", 0, batch("quote-Q1", 0, 1), "cmd-1")
        assert redelivered is Outcome.ALREADY_HANDLED


def test_a_queued_write_another_writer_beat_fails_the_whole_unit_and_none_of_it_is_written(
    database: SqliteDatabase,
) -> None:
    store, views = SqliteEventStore(database), SqliteViewStore(database)
    other_store, other_views = another_process_view(database)
    unit = database.transaction(deferred=True, verify=False)
    unit.__enter__()
    views.save(QuoteView(id="Q1", customerId="mine"), None)
    store.append("quote-Q1", 0, batch("quote-Q1", 0, 1, tag="mine"), "cmd-mine")
    other_store.append("quote-Q1", 0, batch("quote-Q1", 0, 1, tag="theirs"), "cmd-x")
    with pytest.raises(ConcurrencyConflict, match="another writer won"):
        unit.__exit__(None, None, None)
    assert [e.eventId for e in other_store.read_stream("quote-Q1")] == ["evt-quote-Q1-1-theirs"]
    assert other_views.get("Q1") is None  # the unit's first write went with it


def test_a_unit_that_raises_writes_nothing_it_queued(database: SqliteDatabase) -> None:
    store = SqliteEventStore(database)

    def stopped() -> None:
        with database.transaction(deferred=True):
            store.append("quote-Q1", 0, batch("quote-Q1", 0, 1), "cmd-1")
            raise RuntimeError("the function's host stopped")

    with pytest.raises(RuntimeError):
        stopped()
    assert store.read_stream("quote-Q1") == []


def appending_units(
    database: SqliteDatabase, count: int
) -> tuple[list[threading.Thread], dict[int, str]]:
    """Started threads, each a deferring unit that appends the first event of quote-Q<n>
    trusting its cache (verify=False), and what each met, once joined: committed or conflict."""
    store, outcomes = SqliteEventStore(database), {}

    def unit(n: int) -> None:
        try:
            with database.transaction(deferred=True, verify=False):
                store.append(f"quote-Q{n}", 0, batch(f"quote-Q{n}", 0, 1), f"cmd-{n}")
            outcomes[n] = "committed"
        except ConcurrencyConflict:
            outcomes[n] = "conflict"

    threads = [threading.Thread(target=unit, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    return threads, outcomes


def test_one_leader_commits_the_units_queued_behind_it_and_a_conflicting_one_fails_alone(
    database: SqliteDatabase,
) -> None:
    store = SqliteEventStore(database)
    queued = 4
    holding, release = threading.Event(), threading.Event()

    def holder() -> None:  # holds the write turn while the deferring units end and queue
        with database.transaction():
            store.append("quote-Q3", 0, batch("quote-Q3", 0, 1, tag="first"), "cmd-first")
            holding.set()
            release.wait(10)

    first = threading.Thread(target=holder)
    first.start()
    holding.wait(10)
    before = database.stats().get("commits", 0)
    units, outcomes = appending_units(database, queued)
    deadline = time.monotonic() + 10
    while len(database._writer.tickets) < queued and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()
    for thread in [first, *units]:
        thread.join(30)
    assert outcomes == {0: "committed", 1: "committed", 2: "committed", 3: "conflict"}
    # the holder's group (which it may hand on to them), and at most one more for all four
    assert database.stats()["commits"] - before <= 2
    assert [e.eventId for e in store.read_stream("quote-Q3")] == ["evt-quote-Q3-1-first"]


def test_an_invocation_whose_queued_writes_conflicted_runs_again_verified_and_sees_the_other(
    database: SqliteDatabase,
) -> None:
    store = SqliteEventStore(database)
    other_store, _ = another_process_view(database)
    runs: list[tuple[bool, int]] = []

    def handle(item: object) -> str:
        version = len(store.read_stream("customer-C1"))
        runs.append((database.verifying(), version))
        if len(runs) == 1:  # another writer appends first, after this run read the stream
            other_store.append("customer-C1", 0, batch("customer-C1", 0, 1, tag="other"), "cmd-o")
        store.append("customer-C1", version, batch("customer-C1", version, 1, tag="mine"), "cmd-m")
        return "ok"

    function = Function(
        "handle", "eventHubTrigger", {"name": "item"}, RetryPolicy(0), handle, False
    )
    invoker = Invoker(database, threading.Event())
    result: list[object] = []
    error = invoker.call(function, "payload", _context(), 1, result=result)
    assert error is None
    assert result == ["ok"]
    assert runs == [(False, 0), (True, 1)]
    stream = store.read_stream("customer-C1")
    assert [e.eventId for e in stream] == ["evt-customer-C1-1-other", "evt-customer-C1-2-mine"]
    assert invoker.invocations["handle"] == 1


def _context() -> object:
    from devhost.context import Context

    return Context("handle", 0, 0, "")


def test_units_a_leader_runs_together_commit_but_the_one_that_conflicts(
    database: SqliteDatabase,
) -> None:
    store = SqliteEventStore(database)
    store.append("quote-Q3", 0, batch("quote-Q3", 0, 1, tag="first"), "cmd-first")
    leading = threading.Event()

    def slow(conn: object) -> None:  # the first leader's only write: the others queue meanwhile
        leading.set()
        time.sleep(0.3)

    def first() -> None:
        with database.transaction(deferred=True):
            database.defer("test", "slow", None, slow)

    leader = threading.Thread(target=first)
    leader.start()
    leading.wait(10)
    units, outcomes = appending_units(database, 5)
    for thread in [leader, *units]:
        thread.join(30)
    assert outcomes == {n: "conflict" if n == 3 else "committed" for n in range(5)}
    assert [len(store.read_stream(f"quote-Q{n}")) for n in range(5)] == [1, 1, 1, 1, 1]
    assert [e.eventId for e in store.read_stream("quote-Q3")] == ["evt-quote-Q3-1-first"]
