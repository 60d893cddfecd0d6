"""SQLite adapters for local runs: event store (with a feed), read models and dead letters.

One file may hold all three (and the local host's hub logs). WAL mode, one connection per
thread and process, every write under `BEGIN IMMEDIATE`: many threads and processes share it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: SQLite's busy handler alone
    fcntl = None  # type: ignore[assignment]

from application.ports import (
    AppendOutcome,
    ConcurrencyConflict,
    DeadLetter,
    TransientFailure,
    Versioned,
)
from application.streams import check_batch
from domain.messages import EventEnvelope
from domain.saga import TERMINAL

BUSY_TIMEOUT_SECONDS = 30.0
_SYNCHRONOUS = frozenset({"OFF", "NORMAL", "FULL", "EXTRA"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FEED_TOPIC = "events"  # announced when an append commits: the local change feed moved


class SqliteDatabase:
    """One SQLite file: a connection per (process, thread), nestable write transactions, and
    commit notifications. Get the process's one instance per file with `shared(path)`, so
    stores on the same file share connections and a view write inside an event-store
    transaction joins it instead of waiting on it.

    Writers queue on a thread lock and an advisory file lock (`<file>-writer.lock`) before
    `BEGIN IMMEDIATE`: a waiting writer wakes the moment the lock is free, where SQLite's
    own busy handler would sleep in steps of up to 100 ms. A killed process drops its file
    lock with its file descriptors.
    """

    _registry: ClassVar[dict[tuple[str, str], SqliteDatabase]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, path: str | os.PathLike[str], synchronous: str = "FULL") -> None:
        if synchronous.upper() not in _SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {sorted(_SYNCHRONOUS)}")
        self.path = os.path.abspath(os.fspath(path))
        self._synchronous = synchronous.upper()
        self._local = threading.local()
        self._lock = threading.Lock()
        self._opened: list[sqlite3.Connection] = []
        self._writer = _writer_lock(self.path)
        # Waiters per topic: a commit wakes only the pumps of the topics it changed (one
        # Condition for all woke every idle pump on every commit: GIL hand-offs for nothing).
        self._changes = threading.Lock()
        self._generations: dict[str, int] = {}
        self._waiters: dict[str, set[threading.Event]] = {}
        self._stats: Counter[str] = Counter()
        self._schemas: set[str] = set()

    @classmethod
    def shared(cls, path: str | os.PathLike[str], synchronous: str = "FULL") -> SqliteDatabase:
        """This process's one database object for the file (per synchronous mode)."""
        key = (os.path.abspath(os.fspath(path)), synchronous.upper())
        with cls._registry_lock:
            database = cls._registry.get(key)
            if database is None:
                database = cls._registry[key] = cls(*key)
            return database

    def ensure_schema(self, schema: str) -> None:
        """Create the tables of a schema once per database object."""
        if schema in self._schemas:
            return
        with self.transaction() as conn:
            for statement in schema.split(";"):
                conn.execute(statement)
        self._schemas.add(schema)

    def connection(self) -> sqlite3.Connection:
        local = self._local
        if getattr(local, "pid", None) != os.getpid():  # a fork must not share connections
            # isolation_level=None: no implicit transactions; `transaction()` is explicit.
            conn = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_SECONDS,
                isolation_level=None,
                check_same_thread=False,  # only so close() can close it; used by its thread
            )
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            local.conn, local.pid, local.depth, local.begun = conn, os.getpid(), 0, False
            local.topics = set()
            with self._lock:
                self._opened.append(conn)
        return local.conn  # type: ignore[no-any-return]

    @contextmanager
    def transaction(self, lazy: bool = False) -> Iterator[sqlite3.Connection]:
        """A write transaction of this thread; nested ones are savepoints inside it.

        `lazy`: take the write lock only when a nested transaction (a write) first needs it,
        so a unit of work that turns out to read only never blocks writers.
        """
        conn = self.connection()
        local = self._local
        depth: int = local.depth
        if depth == 0 and not lazy:
            self._begin(conn)
        elif depth > 0:
            if not local.begun:
                self._begin(conn)
            conn.execute(f"SAVEPOINT sp{depth}")
        local.depth = depth + 1
        try:
            yield conn
        except BaseException:
            local.depth = depth
            if depth > 0:
                conn.execute(f"ROLLBACK TO sp{depth}")
                conn.execute(f"RELEASE sp{depth}")
            elif local.begun:
                self._end(conn, "ROLLBACK")
            raise
        local.depth = depth
        if depth > 0:
            conn.execute(f"RELEASE sp{depth}")
        elif local.begun:
            self._end(conn, "COMMIT")

    def _begin(self, conn: sqlite3.Connection) -> None:
        self._writer.acquire()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            self._writer.release()
            raise TransientFailure(f"sqlite busy: {exc}") from exc
        self._local.begun = True

    def _end(self, conn: sqlite3.Connection, verb: str) -> None:
        local = self._local
        topics, local.topics = local.topics, set()
        try:
            try:
                conn.execute(verb)
            except sqlite3.Error:
                if verb == "COMMIT":
                    conn.execute("ROLLBACK")
                raise
        finally:
            local.begun = False
            self._writer.release()
        self._stats["commits" if verb == "COMMIT" else "rollbacks"] += 1
        if verb == "COMMIT" and topics:
            with self._changes:
                for topic in topics:
                    self._generations[topic] = self._generations.get(topic, 0) + 1
                    for woken in self._waiters.get(topic, ()):
                        woken.set()

    def in_transaction(self) -> bool:
        return bool(getattr(self._local, "begun", False))

    def changed(self, topic: str) -> None:
        """Say that the current transaction changes `topic`: waiters wake when it commits."""
        self._local.topics.add(topic)

    def generation(self, topic: str) -> int:
        with self._changes:
            return self._generations.get(topic, 0)

    def wait_for_change(self, topics: Sequence[str], seen: Sequence[int], timeout: float) -> None:
        """Wait until a commit of this process changed one of `topics` since `seen` (their
        generations), or `timeout` passed (other processes' commits are not announced)."""
        woken = threading.Event()
        with self._changes:
            if any(self._generations.get(t, 0) != s for t, s in zip(topics, seen, strict=True)):
                return
            for topic in topics:
                self._waiters.setdefault(topic, set()).add(woken)
        try:
            woken.wait(timeout)
        finally:
            with self._changes:
                for topic in topics:
                    self._waiters[topic].discard(woken)

    def count(self, operation: str, n: int = 1) -> None:
        """Count a store operation (reads, writes) for the local host's statistics."""
        self._stats[operation] += n

    def stats(self) -> dict[str, int]:
        return dict(self._stats)

    def close(self) -> None:
        """Close every connection this object opened (call once no thread is using it)."""
        with self._lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            conn.close()
        self._local = threading.local()


class _WriterLock:
    """A process-wide reentrant thread lock plus an advisory lock on a side file."""

    def __init__(self, path: str) -> None:
        self._thread_lock = threading.RLock()
        self._path, self._fd, self._pid, self._held = path, -1, -1, 0

    def acquire(self) -> None:
        self._thread_lock.acquire()
        self._held += 1
        if self._held > 1 or fcntl is None:
            return
        if self._pid != os.getpid():
            self._fd, self._pid = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644), os.getpid()
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def release(self) -> None:
        self._held -= 1
        if self._held == 0 and fcntl is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._thread_lock.release()


_writer_locks: dict[str, _WriterLock] = {}
_writer_locks_lock = threading.Lock()


def _writer_lock(path: str) -> _WriterLock:
    """One writer lock per file and process, whichever database objects open the file."""
    with _writer_locks_lock:
        lock = _writer_locks.get(path)
        if lock is None:
            lock = _writer_locks[path] = _WriterLock(f"{path}-writer.lock")
        return lock


def _database(
    path_or_database: str | os.PathLike[str] | SqliteDatabase, synchronous: str, schema: str
) -> SqliteDatabase:
    if isinstance(path_or_database, SqliteDatabase):
        database = path_or_database
    else:
        database = SqliteDatabase(path_or_database, synchronous)
    database.ensure_schema(schema)
    return database


def _micros(at: datetime) -> int:
    """Microseconds since the epoch; naive times count as UTC (is_due would refuse to mix)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return (at - _EPOCH) // timedelta(microseconds=1)


# --- events ----------------------------------------------------------------------------------

_EVENTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    stream_id TEXT NOT NULL,
    sequence_number INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    document TEXT NOT NULL,
    UNIQUE (stream_id, sequence_number)
);
CREATE TABLE IF NOT EXISTS receipts (
    stream_id TEXT NOT NULL,
    command_id TEXT NOT NULL,
    PRIMARY KEY (stream_id, command_id)
) WITHOUT ROWID
"""


class SqliteEventStore:
    """Streams in one `events` table whose AUTOINCREMENT position is the local change feed.

    Positions are assigned under the write lock, so they grow in commit order: a reader that
    polls `read_all` after the last position it saw misses nothing.
    """

    def __init__(
        self, path: str | os.PathLike[str] | SqliteDatabase, synchronous: str = "FULL"
    ) -> None:
        self._db = _database(path, synchronous, _EVENTS_SCHEMA)

    @property
    def database(self) -> SqliteDatabase:
        return self._db

    def read_stream(self, stream_id: str, after: int = 0) -> list[EventEnvelope]:
        self._db.count("reads")
        rows = self._db.connection().execute(
            "SELECT document FROM events WHERE stream_id = ? AND sequence_number > ?"
            " ORDER BY sequence_number",
            (stream_id, after),
        )
        return [EventEnvelope.model_validate_json(document) for (document,) in rows]

    def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[EventEnvelope],
        command_id: str,
    ) -> AppendOutcome:
        check_batch(stream_id, expected_version, events)
        self._db.count("writes")
        with self._db.transaction() as conn:
            receipt = conn.execute(
                "SELECT 1 FROM receipts WHERE stream_id = ? AND command_id = ?",
                (stream_id, command_id),
            ).fetchone()
            if receipt is not None:
                return AppendOutcome.ALREADY_HANDLED
            (version,) = conn.execute(
                "SELECT COALESCE(MAX(sequence_number), 0) FROM events WHERE stream_id = ?",
                (stream_id,),
            ).fetchone()
            if version != expected_version:
                raise ConcurrencyConflict(
                    f"{stream_id} is at version {version}, not {expected_version}"
                )
            try:
                conn.executemany(
                    "INSERT INTO events (stream_id, sequence_number, event_id, event_type,"
                    " document) VALUES (?, ?, ?, ?, ?)",
                    [
                        (
                            stream_id,
                            e.sequenceNumber,
                            e.eventId,
                            e.eventType,
                            json.dumps(e.to_document()),
                        )
                        for e in events
                    ],
                )
                conn.execute(
                    "INSERT INTO receipts (stream_id, command_id) VALUES (?, ?)",
                    (stream_id, command_id),
                )
            except sqlite3.IntegrityError as exc:  # defensive: the write lock serialises us
                raise ConcurrencyConflict(f"{stream_id}: another writer won") from exc
            self._db.changed(FEED_TOPIC)
        return AppendOutcome.APPENDED

    def read_all(
        self, after_position: int = 0, limit: int = 1000
    ) -> list[tuple[int, EventEnvelope]]:
        """(position, event) in append order after a position; positions start at 1."""
        return [
            (p, EventEnvelope.model_validate_json(document))
            for p, document in self.read_feed(after_position, limit)
        ]

    def read_feed(self, after_position: int = 0, limit: int = 1000) -> list[tuple[int, str]]:
        """`read_all` with each document as its stored JSON text (the change feed's payload)."""
        self._db.count("feed reads")
        rows: list[tuple[int, str]] = (
            self._db.connection()
            .execute(
                "SELECT position, document FROM events WHERE position > ?"
                " ORDER BY position LIMIT ?",
                (after_position, limit),
            )
            .fetchall()
        )
        return rows

    def transaction(self, lazy: bool = False) -> AbstractContextManager[sqlite3.Connection]:
        """Share one SQLite transaction among this thread's appends (to any streams).

        Commits at exit, rolls back on an exception. Each append inside is a savepoint, so a
        conflicted or duplicate append leaves the others in place. It holds the file's write
        lock until exit: keep it short, and do not write through another store on the same
        file from this thread meanwhile (that would wait for this lock); stores made on the
        same `SqliteDatabase` join it instead. `lazy`: take the lock at the first write.
        """
        return self._db.transaction(lazy)

    def close(self) -> None:
        self._db.close()


# --- views -----------------------------------------------------------------------------------

_VIEWS_SCHEMA = """
CREATE TABLE IF NOT EXISTS views (
    id TEXT PRIMARY KEY,
    etag TEXT NOT NULL,
    document TEXT NOT NULL,
    saga_status TEXT,
    saga_deadline_us INTEGER
);
CREATE INDEX IF NOT EXISTS views_by_deadline ON views (saga_deadline_us)
    WHERE saga_deadline_us IS NOT NULL
"""


def _saga_columns(document: dict[str, Any]) -> tuple[str | None, int | None]:
    saga = document.get("saga")
    if not saga:
        return None, None
    deadline = saga.get("deadline")
    return saga.get("status"), None if deadline is None else _micros(
        datetime.fromisoformat(deadline)
    )


class SqliteViewStore:
    """Read-model documents with a fresh uuid4 etag per save; time-outs found by index."""

    def __init__(
        self, path: str | os.PathLike[str] | SqliteDatabase, synchronous: str = "FULL"
    ) -> None:
        self._db = _database(path, synchronous, _VIEWS_SCHEMA)

    def get(self, view_id: str) -> Versioned | None:
        self._db.count("reads")
        row = (
            self._db.connection()
            .execute("SELECT document, etag FROM views WHERE id = ?", (view_id,))
            .fetchone()
        )
        return None if row is None else Versioned(document=json.loads(row[0]), etag=row[1])

    def save(self, document: dict[str, Any], etag: str | None) -> None:
        status, deadline = _saga_columns(document)
        values = (uuid.uuid4().hex, json.dumps(document), status, deadline, document["id"])
        self._db.count("writes")
        with self._db.transaction() as conn:
            if etag is None:
                try:
                    conn.execute(
                        "INSERT INTO views (etag, document, saga_status, saga_deadline_us, id)"
                        " VALUES (?, ?, ?, ?, ?)",
                        values,
                    )
                except sqlite3.IntegrityError as exc:
                    raise ConcurrencyConflict(f"view {document['id']} exists") from exc
                return
            replaced = conn.execute(
                "UPDATE views SET etag = ?, document = ?, saga_status = ?, saga_deadline_us = ?"
                " WHERE id = ? AND etag = ?",
                (*values, etag),
            )
            if replaced.rowcount != 1:
                raise ConcurrencyConflict(f"view {document['id']} changed since it was read")

    def due(self, now: datetime, limit: int = 100) -> list[dict[str, Any]]:
        """Views of sagas that are not terminal and whose deadline <= now: as `is_due`."""
        terminal = sorted(status.value for status in TERMINAL)
        marks = ", ".join("?" for _ in terminal)
        self._db.count("reads")
        rows = self._db.connection().execute(
            "SELECT document FROM views WHERE saga_deadline_us <= ?"
            f" AND COALESCE(saga_status, '') NOT IN ({marks})"
            " ORDER BY saga_deadline_us, id LIMIT ?",
            (_micros(now), *terminal, limit),
        )
        return [json.loads(document) for (document,) in rows]

    def close(self) -> None:
        self._db.close()


# --- dead letters ----------------------------------------------------------------------------

_DEAD_LETTERS_SCHEMA = """
CREATE TABLE IF NOT EXISTS dead_letters (
    id TEXT PRIMARY KEY,
    received_at_us INTEGER NOT NULL,
    letter TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_by_time ON dead_letters (received_at_us)
"""


class SqliteDeadLetterStore:
    """Parked messages; the first letter of an id wins."""

    def __init__(
        self, path: str | os.PathLike[str] | SqliteDatabase, synchronous: str = "FULL"
    ) -> None:
        self._db = _database(path, synchronous, _DEAD_LETTERS_SCHEMA)

    def put(self, letter: DeadLetter) -> None:
        self._db.count("writes")
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO dead_letters (id, received_at_us, letter) VALUES (?, ?, ?)",
                (letter.id, _micros(letter.receivedAt), letter.model_dump_json()),
            )

    def get(self, letter_id: str) -> DeadLetter | None:
        row = (
            self._db.connection()
            .execute("SELECT letter FROM dead_letters WHERE id = ?", (letter_id,))
            .fetchone()
        )
        return None if row is None else DeadLetter.model_validate_json(row[0])

    def list(self, limit: int = 100) -> list[DeadLetter]:
        """Most recent first; letters received at the same instant in the order parked."""
        rows = self._db.connection().execute(
            "SELECT letter FROM dead_letters ORDER BY received_at_us DESC, rowid LIMIT ?",
            (limit,),
        )
        return [DeadLetter.model_validate_json(letter) for (letter,) in rows]

    def mark_replayed(self, letter_id: str, at: datetime) -> None:
        """Record the replay; a KeyError for an unknown id, as the in-memory store raises."""
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT letter FROM dead_letters WHERE id = ?", (letter_id,)
            ).fetchone()
            if row is None:
                raise KeyError(letter_id)
            letter = DeadLetter.model_validate_json(row[0]).model_copy(update={"replayedAt": at})
            conn.execute(
                "UPDATE dead_letters SET letter = ? WHERE id = ?",
                (letter.model_dump_json(), letter_id),
            )

    def close(self) -> None:
        self._db.close()
