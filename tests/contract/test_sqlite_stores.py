"""The SQLite adapters held to the contract suites (writers race as OS processes), plus what
only a file can promise: durability across reopen and crashes, and batch transactions."""

from __future__ import annotations

import json
import multiprocessing
import queue
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from adapters.sqlite import SqliteDeadLetterStore, SqliteEventStore, SqliteViewStore
from application.ports import ConcurrencyConflict, Outcome, PageKey, Versioned, ViewQuery
from application.views import utc_text
from tests.contract.dead_letter_store_contract import DeadLetterStoreContract, letter
from tests.contract.event_store_contract import (
    WRITERS,
    AppendAttempt,
    ConcurrentAppends,
    EventStoreContract,
    attempt_append,
    run_writers_in_threads,
)
from tests.contract.view_store_contract import AT, NOW, ViewStoreContract, saga_view, view
from tests.support.builders import batch

pytestmark = pytest.mark.contract

_SPAWN = multiprocessing.get_context("spawn")


def _writer_loop(inbox: Any, barrier: Any, results: Any, index: int) -> None:
    """One racing writer in its own process: per job, its own store on the job's file."""
    while (job := inbox.get()) is not None:
        path, attempts = job
        store = SqliteEventStore(path)
        outcomes: list[str] = []
        for attempt in attempts:
            try:
                barrier.wait(timeout=60)
            except threading.BrokenBarrierError as exc:
                outcomes.append(f"error: {exc!r}")
                continue
            outcomes.append(attempt_append(store, attempt))
        store.close()
        results.put((index, outcomes))


class WriterProcesses:
    """Spawned OS processes that race appends on a SQLite file; spawned once, reused per job
    (spawning and importing costs seconds, racing milliseconds)."""

    def __init__(self, count: int) -> None:
        self._barrier = _SPAWN.Barrier(count)
        self._results = _SPAWN.Queue()
        self._inboxes = [_SPAWN.Queue() for _ in range(count)]
        self._processes = [
            _SPAWN.Process(
                target=_writer_loop, args=(inbox, self._barrier, self._results, i), daemon=True
            )
            for i, inbox in enumerate(self._inboxes)
        ]
        for process in self._processes:
            process.start()

    def run(self, path: Path, writers: Sequence[Sequence[AppendAttempt]]) -> list[list[str]]:
        """A `ConcurrentAppends`: exactly one writer per process, equally many rounds each."""
        assert len(writers) == len(self._inboxes), "one writer per process"
        for inbox, attempts in zip(self._inboxes, writers, strict=True):
            inbox.put((str(path), list(attempts)))
        outcomes: list[list[str]] = [["error: no result"] for _ in writers]
        try:
            for _ in writers:
                index, row = self._results.get(timeout=120)
                outcomes[index] = row
        except queue.Empty:
            pass
        self._barrier.reset()
        return outcomes

    def close(self) -> None:
        for inbox in self._inboxes:
            inbox.put(None)
        for process in self._processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()


@pytest.fixture(scope="module")
def writer_processes() -> Any:
    processes = WriterProcesses(WRITERS)
    yield processes
    processes.close()


class TestSqliteEventStore(EventStoreContract):
    @pytest.fixture
    def path(self, tmp_path: Path) -> Path:
        return tmp_path / "events.db"

    @pytest.fixture
    def store(self, path: Path) -> Any:
        store = SqliteEventStore(path)
        yield store
        store.close()

    @pytest.fixture
    def concurrent_appends(
        self, store: SqliteEventStore, path: Path, writer_processes: WriterProcesses
    ) -> ConcurrentAppends:
        def run(writers: Sequence[Sequence[AppendAttempt]]) -> list[list[str]]:
            return writer_processes.run(path, writers)

        return run


class TestSqliteViewStore(ViewStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Any:
        store = SqliteViewStore(tmp_path / "views.db")
        yield store
        store.close()

    def stored_json(self, store: Any, view_id: str) -> dict[str, Any]:
        sql = "SELECT document FROM views WHERE id = ?"
        (text,) = store._db.connection().execute(sql, (view_id,)).fetchone()
        return json.loads(text)


class TestSqliteDeadLetterStore(DeadLetterStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Any:
        store = SqliteDeadLetterStore(tmp_path / "letters.db")
        yield store
        store.close()


# --- what only a file promises ---------------------------------------------------------------


def _die_mid_transaction(path: str) -> None:
    import os

    store = SqliteEventStore(path)
    with store.transaction():
        store.append("quote-CRASH", 0, batch("quote-CRASH", 0, 2), "cmd-1")
        os._exit(1)  # a crash: no commit, no rollback, no clean-up


def test_events_receipts_and_feed_positions_survive_closing_and_reopening(tmp_path: Path) -> None:
    path = tmp_path / "local.db"
    store = SqliteEventStore(path)
    store.append("quote-Q1", 0, batch("quote-Q1", 0, 2), "cmd-1")
    before = store.read_all()
    store.close()

    reopened = SqliteEventStore(path)

    assert reopened.read_stream("quote-Q1") == batch("quote-Q1", 0, 2)
    assert reopened.read_all() == before
    assert (
        reopened.append("quote-Q1", 0, batch("quote-Q1", 0, 1), "cmd-1") is Outcome.ALREADY_HANDLED
    )
    reopened.append("quote-Q1", 2, batch("quote-Q1", 2, 1), "cmd-2")
    assert reopened.read_all(after_position=before[-1][0])[0][0] > before[-1][0]
    reopened.close()


def test_views_and_dead_letters_survive_reopening_in_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "local.db"
    views, letters, events = (
        SqliteViewStore(path),
        SqliteDeadLetterStore(path),
        SqliteEventStore(path),
    )
    views.save(view("Q1", "Running", NOW), None)
    letters.put(letter("L1"))
    events.append("quote-Q1", 0, batch("quote-Q1", 0, 1), "cmd-1")
    saved = views.get("Q1")
    assert saved is not None
    for store in (views, letters, events):
        store.close()

    views, letters, events = (
        SqliteViewStore(path),
        SqliteDeadLetterStore(path),
        SqliteEventStore(path),
    )

    assert views.get("Q1") == Versioned(view=view("Q1", "Running", NOW), etag=saved.etag)
    assert views.due(NOW) == [view("Q1", "Running", NOW)]
    assert letters.list() == [letter("L1")]
    assert events.read_stream("quote-Q1") == batch("quote-Q1", 0, 1)


def test_a_writer_that_dies_mid_transaction_leaves_nothing_and_no_lock(tmp_path: Path) -> None:
    path = tmp_path / "local.db"
    store = SqliteEventStore(path)
    crashed = _SPAWN.Process(target=_die_mid_transaction, args=(str(path),))
    crashed.start()
    crashed.join(timeout=60)
    assert crashed.exitcode == 1

    assert store.read_stream("quote-CRASH") == []
    assert store.append("quote-CRASH", 0, batch("quote-CRASH", 0, 1), "cmd-1") is Outcome.APPENDED
    assert [e for _, e in store.read_all()] == batch("quote-CRASH", 0, 1)


def test_a_transaction_commits_its_appends_to_many_streams_at_once(tmp_path: Path) -> None:
    path = tmp_path / "local.db"
    store, observer = SqliteEventStore(path), SqliteEventStore(path)

    with store.transaction():
        for n in range(3):
            store.append(f"quote-Q{n}", 0, batch(f"quote-Q{n}", 0, 2), "cmd-1")
        assert len(store.read_all()) == 6  # the writer sees its own work
        assert observer.read_all() == []  # nobody else does before the commit

    assert [e.streamId for _, e in observer.read_all()] == ["quote-Q0"] * 2 + ["quote-Q1"] * 2 + [
        "quote-Q2"
    ] * 2


def test_a_conflict_or_duplicate_inside_a_transaction_keeps_the_other_appends(
    tmp_path: Path,
) -> None:
    store = SqliteEventStore(tmp_path / "local.db")
    store.append("quote-B", 0, batch("quote-B", 0, 1), "cmd-0")

    with store.transaction():
        store.append("quote-A", 0, batch("quote-A", 0, 2), "cmd-1")
        with pytest.raises(ConcurrencyConflict):
            store.append("quote-B", 0, batch("quote-B", 0, 2, tag="late"), "cmd-2")
        assert store.append("quote-A", 0, batch("quote-A", 0, 1), "cmd-1") is (
            Outcome.ALREADY_HANDLED
        )
        store.append("quote-C", 0, batch("quote-C", 0, 1), "cmd-3")

    assert store.read_stream("quote-A") == batch("quote-A", 0, 2)
    assert store.read_stream("quote-B") == batch("quote-B", 0, 1)
    assert store.read_stream("quote-C") == batch("quote-C", 0, 1)
    # The conflicted cmd-2 left no receipt: retried at the right version, it appends.
    assert store.append("quote-B", 1, batch("quote-B", 1, 1), "cmd-2") is Outcome.APPENDED


def test_an_exception_escaping_a_transaction_rolls_back_all_its_appends(tmp_path: Path) -> None:
    store = SqliteEventStore(tmp_path / "local.db")

    def failing_trigger_batch() -> None:
        with store.transaction():
            store.append("quote-A", 0, batch("quote-A", 0, 1), "cmd-1")
            store.append("quote-B", 0, batch("quote-B", 0, 1), "cmd-1")
            raise RuntimeError("handler failed")

    with pytest.raises(RuntimeError, match="handler failed"):
        failing_trigger_batch()

    assert store.read_all() == []
    assert store.append("quote-A", 0, batch("quote-A", 0, 1), "cmd-1") is Outcome.APPENDED


def test_an_unknown_synchronous_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous must be one of"):
        SqliteEventStore(tmp_path / "local.db", synchronous="FULL; DROP TABLE events")


def test_threads_sharing_one_store_race_like_separate_writers(tmp_path: Path) -> None:
    store = SqliteEventStore(tmp_path / "local.db")
    writers = [
        [("quote-Q1", r, batch("quote-Q1", r, 1, tag=f"w{w}"), f"c{w}-{r}") for r in range(3)]
        for w in range(WRITERS)
    ]

    outcomes = run_writers_in_threads(store, writers)

    assert all(o in {"appended", "conflict"} for row in outcomes for o in row), outcomes
    assert [sum(row[r] == "appended" for row in outcomes) for r in range(3)] == [1, 1, 1]
    assert [e.sequenceNumber for e in store.read_stream("quote-Q1")] == [1, 2, 3]


def test_another_threads_append_is_not_part_of_this_threads_transaction(tmp_path: Path) -> None:
    store = SqliteEventStore(tmp_path / "local.db")
    other_thread_outcome: list[str] = []

    def other_thread() -> None:  # waits for the write lock, then commits on its own
        other_thread_outcome.append(
            attempt_append(store, ("quote-B", 0, batch("quote-B", 0, 1), "c"))
        )

    def failing_trigger_batch() -> None:
        with store.transaction():
            store.append("quote-A", 0, batch("quote-A", 0, 1), "cmd-1")
            thread.start()
            thread.join(timeout=0.3)
            raise RuntimeError("handler failed")

    thread = threading.Thread(target=other_thread)
    with pytest.raises(RuntimeError, match="handler failed"):
        failing_trigger_batch()
    thread.join(timeout=60)

    assert other_thread_outcome == ["appended"]
    assert [e for _, e in store.read_all()] == batch("quote-B", 0, 1)


# --- the saga query on a file -----------------------------------------------------------------

OLD_VIEWS_SCHEMA = """
CREATE TABLE views (id TEXT PRIMARY KEY, etag TEXT NOT NULL, document TEXT NOT NULL,
                    saga_status TEXT, saga_deadline_us INTEGER)
"""


def test_a_views_file_written_before_the_query_columns_is_queried_as_it_stands(tmp_path: Path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:  # a file the previous version wrote
        conn.execute(OLD_VIEWS_SCHEMA)
        for old in (saga_view("Q-a", started=AT), saga_view("Q-b", started=None)):
            conn.execute(
                "INSERT INTO views VALUES (?, 'e', ?, 'Running', NULL)",
                (old.id, json.dumps(old.model_dump(mode="json"))),
            )
    conn.close()

    first, second = SqliteViewStore(path), SqliteViewStore(path)  # both add, one wins

    assert [d.id for d in second.query(ViewQuery())] == ["Q-a", "Q-b"]
    assert [d.id for d in first.query(ViewQuery(customer_id="C1", started_from=AT))] == ["Q-a"]


@pytest.mark.parametrize(
    "query",
    [
        ViewQuery(),
        ViewQuery(status="Running"),
        ViewQuery(customer_id="C1", with_saga=False),
        ViewQuery(after=PageKey(utc_text(AT), "Q1")),
    ],
    ids=["all", "status", "customer", "next-page"],
)
def test_a_page_of_sagas_is_read_in_index_order_without_sorting(tmp_path: Path, query):
    from adapters.sqlite_views import _view_filters

    store = SqliteViewStore(tmp_path / "views.db")
    where, values = _view_filters(query)
    plan = (
        store._db.connection()
        .execute(
            f"EXPLAIN QUERY PLAN SELECT document FROM views WHERE {' AND '.join(where)}"
            " ORDER BY saga_started_at DESC, id DESC LIMIT 51",
            values,
        )
        .fetchall()
    )
    details = " | ".join(row[-1] for row in plan)

    assert "USING INDEX views_by_" in details, details
    assert "TEMP B-TREE" not in details, details  # no sort of the whole table per page
