"""SQLite adapters for local runs: event store (with a feed), read models and dead letters.

One file may hold all three (and the local host's hub logs), through one SqliteDatabase
(adapters/sqlite_database.py): WAL mode, one connection per thread and process, every write
under `BEGIN IMMEDIATE`, so many threads and processes share it.
"""

from __future__ import annotations

import os
import sqlite3
import zlib
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from adapters.sqlite_database import (
    FEED_TOPIC,
    SqliteDatabase,
    database_for,
    epoch_micros,
    insert_rows,
)
from adapters.sqlite_views import SqliteViewStore  # noqa: F401 - the read models, by this name too
from application.ports import (
    AppendOutcome,
    ConcurrencyConflict,
    DeadLetter,
    LetterState,
    Outcome,
)
from application.streams import check_batch
from domain.messages import EventEnvelope

# --- events ----------------------------------------------------------------------------------

_EVENTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    stream_id TEXT NOT NULL,
    sequence_number INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    document TEXT NOT NULL,
    feed_bucket INTEGER NOT NULL DEFAULT 0,
    UNIQUE (stream_id, sequence_number)
);
CREATE TABLE IF NOT EXISTS receipts (
    stream_id TEXT NOT NULL,
    command_id TEXT NOT NULL,
    PRIMARY KEY (stream_id, command_id)
) WITHOUT ROWID
"""


# The local change feed is split into ranges, as Azure splits a container's feed by partition
# key range, each with its own lease, so that several orchestrator invocations run at once
# (on several hosts, or threads of one). Locally a document's range follows its correlation
# id, not its stream: one saga's events stay in one range, in order, so no two hosts step one
# saga at once (in Azure they may, which the saga's conditional appends and the view's etag
# make safe; measured locally, splitting by stream made those conflicts cost more than the
# ranges gave). A range is a span of FEED_BUCKETS hash buckets.
FEED_BUCKETS = 1024


def feed_bucket(correlation_id: str) -> int:
    return zlib.crc32(correlation_id.encode("utf-8")) % FEED_BUCKETS


@dataclass(frozen=True)
class FeedRange:
    """Range `index` of `count` equal spans of the feed's hash buckets."""

    index: int
    count: int

    @property
    def buckets(self) -> tuple[int, int]:
        """The first and last bucket of the range."""
        return (
            self.index * FEED_BUCKETS // self.count,
            (self.index + 1) * FEED_BUCKETS // self.count - 1,
        )


def _insert_events(
    conn: sqlite3.Connection, appends: list[tuple[list[tuple[Any, ...]], tuple[str, str]]]
) -> None:
    """The events and receipts of appends, in two statements (SqliteDatabase.defer's batch);
    ConcurrencyConflict if a sequence number or a receipt is taken."""
    try:
        insert_rows(
            conn,
            "INSERT INTO events (stream_id, sequence_number, event_id, event_type, document,"
            " feed_bucket)",
            [row for rows, _ in appends for row in rows],
        )
        insert_rows(conn, "INSERT INTO receipts (stream_id, command_id)", [r for _, r in appends])
    except sqlite3.IntegrityError as exc:
        streams = ", ".join(dict.fromkeys(stream for _, (stream, _) in appends))
        raise ConcurrencyConflict(f"{streams}: another writer won") from exc


def _add_feed_buckets(database: SqliteDatabase) -> None:
    """A file written before feed ranges has no feed_bucket column: add it, and fill it in
    from each document's correlation id (once, under the write lock)."""
    conn = database.connection()
    columns = {row[1] for row in conn.execute("PRAGMA table_info(events)")}
    if "feed_bucket" in columns:
        return
    with database.transaction() as conn:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(events)")}
        if "feed_bucket" in columns:  # another process added it meanwhile
            return
        conn.execute("ALTER TABLE events ADD COLUMN feed_bucket INTEGER NOT NULL DEFAULT 0")
        rows = conn.execute(
            "SELECT position, json_extract(document, '$.correlationId') FROM events"
        ).fetchall()
        conn.executemany(
            "UPDATE events SET feed_bucket = ? WHERE position = ?",
            [(feed_bucket(correlation or ""), position) for position, correlation in rows],
        )


@dataclass(frozen=True)
class _Queued:
    """An append a deferring unit queued: its events and the command's receipt."""

    events: tuple[EventEnvelope, ...]
    command_id: str


class SqliteEventStore:
    """Streams in one `events` table whose AUTOINCREMENT position is the local change feed.

    Positions are assigned under the write lock, so they grow in commit order: a reader that
    polls `read_all` after the last position it saw misses nothing.
    """

    def __init__(
        self, path: str | os.PathLike[str] | SqliteDatabase, synchronous: str = "FULL"
    ) -> None:
        self._db = database_for(path, synchronous, _EVENTS_SCHEMA)
        _add_feed_buckets(self._db)

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
        events = [EventEnvelope.model_validate_json(document) for (document,) in rows]
        for queued in self._queued(stream_id):  # this unit's own appends, not yet written
            events += [e for e in queued.events if e.sequenceNumber > after]
        return events

    def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[EventEnvelope],
        command_id: str,
    ) -> AppendOutcome:
        """Append at `expected_version` unless the command was handled on the stream. In a
        deferring unit (SqliteDatabase.transaction) it is checked against what is committed
        and what the unit queued, then queued; the queued INSERTs conflict (failing the
        unit) if another writer appended to the stream or handled the command since."""
        check_batch(stream_id, expected_version, events)
        self._db.count("writes")
        rows = [
            (
                stream_id,
                e.sequenceNumber,
                e.eventId,
                e.eventType,
                e.document_text(),
                feed_bucket(e.correlationId),
            )
            for e in events
        ]

        def insert(conn: sqlite3.Connection) -> None:
            _insert_events(conn, [(rows, (stream_id, command_id))])

        if not self._db.deferring():
            with self._db.transaction() as conn:
                if self._handled(conn, stream_id, expected_version, command_id, []):
                    return Outcome.ALREADY_HANDLED
                insert(conn)
                self._db.changed(FEED_TOPIC)
            return Outcome.APPENDED
        if self._db.verifying() and self._handled(
            self._db.connection(), stream_id, expected_version, command_id, self._queued(stream_id)
        ):
            return Outcome.ALREADY_HANDLED
        queue = _Queued(tuple(events), command_id)
        batch = (_insert_events, (rows, (stream_id, command_id)))
        self._db.defer("events", stream_id, queue, insert, FEED_TOPIC, batch)
        return Outcome.APPENDED

    def _handled(
        self,
        conn: sqlite3.Connection,
        stream_id: str,
        expected_version: int,
        command_id: str,
        queued: list[_Queued],
    ) -> bool:
        """True if the command was handled on the stream; ConcurrencyConflict if the stream
        is not at `expected_version` (committed, or as this unit's queued appends leave it)."""
        if (
            any(q.command_id == command_id for q in queued)
            or conn.execute(
                "SELECT 1 FROM receipts WHERE stream_id = ? AND command_id = ?",
                (stream_id, command_id),
            ).fetchone()
        ):
            return True
        if queued:
            version = queued[-1].events[-1].sequenceNumber
        else:
            (version,) = conn.execute(
                "SELECT COALESCE(MAX(sequence_number), 0) FROM events WHERE stream_id = ?",
                (stream_id,),
            ).fetchone()
        if version != expected_version:
            raise ConcurrencyConflict(
                f"{stream_id} is at version {version}, not {expected_version}"
            )
        return False

    def _queued(self, stream_id: str) -> list[_Queued]:
        return self._db.pending("events", stream_id)  # type: ignore[return-value]

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

    def read_feed_of(
        self,
        doc_type: str,
        after_position: int = 0,
        limit: int = 1000,
        feed_range: FeedRange | None = None,
    ) -> list[tuple[int, str | None]]:
        """`read_feed` where a document of another docType comes without its text (None), so
        a reader can move past it without parsing or delivering it; of one `feed_range`
        only, if given (the documents whose correlation ids hash into it)."""
        self._db.count("feed reads")
        low, high = (0, FEED_BUCKETS - 1) if feed_range is None else feed_range.buckets
        rows: list[tuple[int, str | None]] = (
            self._db.connection()
            .execute(
                "SELECT position, CASE WHEN json_extract(document, '$.docType') = ?"
                " THEN document END FROM events WHERE position > ?"
                " AND feed_bucket BETWEEN ? AND ? ORDER BY position LIMIT ?",
                (doc_type, after_position, low, high, limit),
            )
            .fetchall()
        )
        return rows

    def feed_position(self) -> int:
        """The position of the feed's last document; 0 while it is empty."""
        row = self._db.connection().execute("SELECT MAX(position) FROM events").fetchone()
        return int(row[0] or 0)

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
        self._db = database_for(path, synchronous, _DEAD_LETTERS_SCHEMA)

    def put(self, letter: DeadLetter) -> None:
        self._db.count("writes")
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO dead_letters (id, received_at_us, letter) VALUES (?, ?, ?)",
                (letter.id, epoch_micros(letter.receivedAt), letter.model_dump_json()),
            )

    def get(self, letter_id: str) -> DeadLetter | None:
        row = (
            self._db.connection()
            .execute("SELECT letter FROM dead_letters WHERE id = ?", (letter_id,))
            .fetchone()
        )
        return None if row is None else DeadLetter.model_validate_json(row[0])

    def list(
        self,
        limit: int = 100,
        correlation_id: str | None = None,
        state: LetterState | None = None,
    ) -> list[DeadLetter]:
        """Most recent first; letters received at the same instant in the order parked."""
        where, values = ["1"], []
        if correlation_id is not None:
            where.append("json_extract(letter, '$.correlationId') = ?")
            values.append(correlation_id)
        if state is not None:
            null = "IS NULL" if state == "open" else "IS NOT NULL"
            where.append(f"json_extract(letter, '$.replayedAt') {null}")
        rows = self._db.connection().execute(
            f"SELECT letter FROM dead_letters WHERE {' AND '.join(where)}"
            " ORDER BY received_at_us DESC, rowid LIMIT ?",
            (*values, limit),
        )
        return [DeadLetter.model_validate_json(letter) for (letter,) in rows]

    def update_reason(self, letter_id: str, reason: str) -> None:
        """Record a new reason; a KeyError for an unknown id, as the in-memory store raises."""
        self._update(letter_id, {"reason": reason})

    def mark_replayed(self, letter_id: str, at: datetime) -> None:
        """Record the replay; a KeyError for an unknown id, as the in-memory store raises."""
        self._update(letter_id, {"replayedAt": at})

    def _update(self, letter_id: str, fields: dict[str, Any]) -> None:
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT letter FROM dead_letters WHERE id = ?", (letter_id,)
            ).fetchone()
            if row is None:
                raise KeyError(letter_id)
            letter = DeadLetter.model_validate_json(row[0]).model_copy(update=fields)
            conn.execute(
                "UPDATE dead_letters SET letter = ? WHERE id = ?",
                (letter.model_dump_json(), letter_id),
            )

    def close(self) -> None:
        self._db.close()
