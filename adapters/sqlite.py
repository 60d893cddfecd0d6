"""SQLite adapters for local runs: event store (with a feed), read models and dead letters.

One file may hold all three. WAL mode, one connection per thread and process, and every write
under `BEGIN IMMEDIATE`, so many threads and many processes can share the file.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

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


class _Database:
    """One sqlite3 connection per (process, thread) on one file, and nestable transactions."""

    def __init__(self, path: str | os.PathLike[str], schema: str, synchronous: str) -> None:
        if synchronous.upper() not in _SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {sorted(_SYNCHRONOUS)}")
        self._path = os.fspath(path)
        self._synchronous = synchronous.upper()
        self._local = threading.local()
        self._lock = threading.Lock()
        self._opened: list[sqlite3.Connection] = []
        with self.transaction() as conn:
            for statement in schema.split(";"):
                conn.execute(statement)

    def connection(self) -> sqlite3.Connection:
        local = self._local
        if getattr(local, "pid", None) != os.getpid():  # a fork must not share connections
            # isolation_level=None: no implicit transactions; `transaction()` is explicit.
            conn = sqlite3.connect(
                self._path,
                timeout=BUSY_TIMEOUT_SECONDS,
                isolation_level=None,
                check_same_thread=False,  # only so close() can close it; used by its thread
            )
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            local.conn, local.pid, local.depth = conn, os.getpid(), 0
            with self._lock:
                self._opened.append(conn)
        return local.conn  # type: ignore[no-any-return]

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction of this thread; nested ones are savepoints inside it."""
        conn = self.connection()
        depth: int = self._local.depth
        savepoint = f"sp{depth}"
        try:
            conn.execute("BEGIN IMMEDIATE" if depth == 0 else f"SAVEPOINT {savepoint}")
        except sqlite3.OperationalError as exc:
            raise TransientFailure(f"sqlite busy: {exc}") from exc
        self._local.depth = depth + 1
        try:
            yield conn
        except BaseException:
            self._local.depth = depth
            if depth == 0:
                conn.execute("ROLLBACK")
            else:
                conn.execute(f"ROLLBACK TO {savepoint}")
                conn.execute(f"RELEASE {savepoint}")
            raise
        self._local.depth = depth
        if depth > 0:
            conn.execute(f"RELEASE {savepoint}")
            return
        try:
            conn.execute("COMMIT")
        except sqlite3.Error:
            conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        """Close every connection this object opened (call once no thread is using it)."""
        with self._lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            conn.close()
        self._local = threading.local()


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

    def __init__(self, path: str | os.PathLike[str], synchronous: str = "FULL") -> None:
        self._db = _Database(path, _EVENTS_SCHEMA, synchronous)

    def read_stream(self, stream_id: str, after: int = 0) -> list[EventEnvelope]:
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
        return AppendOutcome.APPENDED

    def read_all(
        self, after_position: int = 0, limit: int = 1000
    ) -> list[tuple[int, EventEnvelope]]:
        """(position, event) in append order after a position; positions start at 1."""
        rows = self._db.connection().execute(
            "SELECT position, document FROM events WHERE position > ? ORDER BY position LIMIT ?",
            (after_position, limit),
        )
        return [(p, EventEnvelope.model_validate_json(document)) for p, document in rows]

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """Share one SQLite transaction among this thread's appends (to any streams).

        Commits at exit, rolls back on an exception. Each append inside is a savepoint, so a
        conflicted or duplicate append leaves the others in place. It holds the file's write
        lock until exit: keep it short, and do not write through another store on the same
        file from this thread meanwhile (that would wait for this lock).
        """
        return self._db.transaction()

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

    def __init__(self, path: str | os.PathLike[str], synchronous: str = "FULL") -> None:
        self._db = _Database(path, _VIEWS_SCHEMA, synchronous)

    def get(self, view_id: str) -> Versioned | None:
        row = (
            self._db.connection()
            .execute("SELECT document, etag FROM views WHERE id = ?", (view_id,))
            .fetchone()
        )
        return None if row is None else Versioned(document=json.loads(row[0]), etag=row[1])

    def save(self, document: dict[str, Any], etag: str | None) -> None:
        status, deadline = _saga_columns(document)
        values = (uuid.uuid4().hex, json.dumps(document), status, deadline, document["id"])
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

    def __init__(self, path: str | os.PathLike[str], synchronous: str = "FULL") -> None:
        self._db = _Database(path, _DEAD_LETTERS_SCHEMA, synchronous)

    def put(self, letter: DeadLetter) -> None:
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
