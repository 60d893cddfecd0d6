"""The SQLite read-model store: quote views by id, time-outs and saga queries by index.

Shares its file (and SqliteDatabase) with the event store and dead letters: adapters/sqlite.py,
which re-exports SqliteViewStore.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime
from typing import Any

from adapters.sqlite_database import (
    ROWS_PER_STATEMENT,
    SqliteDatabase,
    database_for,
    epoch_micros,
    insert_rows,
)
from application.ports import ConcurrencyConflict, SagaCounts, Versioned, ViewQuery
from application.read_model import ListedView, QuoteView
from domain.saga import TERMINAL, SagaStatus

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


# What GET /api/sagas filters and sorts by, read from the document itself: virtual generated
# columns need no backfill, so a file written before they existed is queryable once they are
# added (ALTER TABLE may add VIRTUAL, not STORED, ones). startedAt is a fixed-width UTC text
# (application.views.utc_text): its text order is its time order.
# https://www.sqlite.org/gencol.html
_QUERY_COLUMNS = {
    "saga_started_at": "json_extract(document, '$.saga.startedAt')",
    "customer_id": "json_extract(document, '$.customerId')",
}
_QUERY_INDEXES = """
CREATE INDEX IF NOT EXISTS views_by_start ON views (saga_started_at, id);
CREATE INDEX IF NOT EXISTS views_by_status ON views (saga_status, saga_started_at, id);
CREATE INDEX IF NOT EXISTS views_by_customer ON views (customer_id, saga_started_at, id)
"""
_TERMINAL = tuple(sorted(status.value for status in TERMINAL))
_NOT_TERMINAL = f"saga_status NOT IN ({', '.join('?' for _ in _TERMINAL)})"


def _add_query_columns(db: SqliteDatabase) -> None:
    with db.transaction() as conn:  # under the write lock: one process adds them
        present = {row[1] for row in conn.execute("PRAGMA table_xinfo(views)")}
        for name, expression in _QUERY_COLUMNS.items():
            if name not in present:
                conn.execute(
                    f"ALTER TABLE views ADD COLUMN {name} TEXT"
                    f" GENERATED ALWAYS AS ({expression}) VIRTUAL"
                )
        for statement in _QUERY_INDEXES.split(";"):
            conn.execute(statement)


def _saga_columns(view: QuoteView) -> tuple[str | None, int | None]:
    saga = view.saga
    if saga is None:
        return None, None
    deadline = saga.deadline
    return saga.status.value, None if deadline is None else epoch_micros(deadline)


# UPDATE ... FROM, which replaces many views at their etags in one statement: SQLite 3.33.
_UPDATE_FROM = sqlite3.sqlite_version_info >= (3, 33, 0)
_SAVED = "(etag, document, saga_status, saga_deadline_us, id)"


def _write_views(conn: sqlite3.Connection, saves: list[tuple[str | None, tuple[Any, ...]]]) -> None:
    """Views created (etag None) or replaced at their etag, each (etag, (new etag, document,
    saga_status, saga_deadline_us, id)); the creations in one statement and the replacements
    in another where SQLite can (SqliteDatabase.defer's batch). ConcurrencyConflict if one
    exists already or changed since it was read."""
    ids = [values[4] for _, values in saves]
    if len(set(ids)) < len(ids):
        for save in saves:  # one view saved twice: each replacement after the one before
            _write_views(conn, [save])
        return
    created = [values for etag, values in saves if etag is None]
    try:
        if created:
            insert_rows(conn, f"INSERT INTO views {_SAVED}", created)
    except sqlite3.IntegrityError as exc:
        raise ConcurrencyConflict(f"view {', '.join(v[4] for v in created)} exists") from exc
    replaced = [(*values, etag) for etag, values in saves if etag is not None]
    if len(replaced) == 1 or not _UPDATE_FROM:
        for row in replaced:
            changed = conn.execute(
                "UPDATE views SET etag = ?, document = ?, saga_status = ?,"
                " saga_deadline_us = ? WHERE id = ? AND etag = ?",
                row,
            ).rowcount
            if changed != 1:
                raise ConcurrencyConflict(f"view {row[4]} changed since it was read")
        return
    for start in range(0, len(replaced), ROWS_PER_STATEMENT):
        chunk = replaced[start : start + ROWS_PER_STATEMENT]
        marks = ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(chunk))
        changed = conn.execute(
            "UPDATE views SET etag = v.column1, document = v.column2, saga_status = v.column3,"
            f" saga_deadline_us = v.column4 FROM (VALUES {marks}) AS v"
            " WHERE views.id = v.column5 AND views.etag = v.column6",
            [value for row in chunk for value in row],
        ).rowcount
        if changed != len(chunk):
            names = ", ".join(row[4] for row in chunk)
            raise ConcurrencyConflict(f"view {names} changed since it was read")


class SqliteViewStore:
    """Read-model documents with a fresh random etag per save (128 bits, as a uuid4 has, without
    building one); time-outs found by index."""

    def __init__(
        self, path: str | os.PathLike[str] | SqliteDatabase, synchronous: str = "FULL"
    ) -> None:
        self._db = database_for(path, synchronous, _VIEWS_SCHEMA)
        _add_query_columns(self._db)

    def get(self, view_id: str) -> Versioned | None:
        self._db.count("reads")
        queued = self._db.pending("views", view_id)  # this unit's own save, not yet written
        if queued:
            return queued[-1]  # type: ignore[return-value]
        row = (
            self._db.connection()
            .execute("SELECT document, etag FROM views WHERE id = ?", (view_id,))
            .fetchone()
        )
        if row is None:
            return None
        return Versioned(view=QuoteView.model_validate_json(row[0]), etag=row[1])

    def save(self, view: QuoteView, etag: str | None) -> str:
        """Create (etag None) or replace at `etag`; ConcurrencyConflict if the view is not as
        the caller read it. In a deferring unit this is checked against what is committed and
        what the unit queued, then queued; the queued SQL fails the unit if another writer
        wrote the view since."""
        status, deadline = _saga_columns(view)
        values = (os.urandom(16).hex(), view.model_dump_json(), status, deadline, view.id)
        self._db.count("writes")

        def write(conn: sqlite3.Connection) -> None:
            _write_views(conn, [(etag, values)])

        if self._db.deferring() and self._db.verifying():
            queued = self._db.pending("views", view.id)
            current = queued[-1].etag if queued else self._etag(view.id)  # type: ignore[attr-defined]
            if current != etag:
                raise ConcurrencyConflict(
                    f"view {view.id} exists"
                    if etag is None
                    else f"view {view.id} changed since it was read"
                )
        saved = Versioned(view=view, etag=values[0])
        self._db.defer("views", view.id, saved, write, batch=(_write_views, (etag, values)))
        return values[0]

    def _etag(self, view_id: str) -> str | None:
        row = (
            self._db.connection()
            .execute("SELECT etag FROM views WHERE id = ?", (view_id,))
            .fetchone()
        )
        return None if row is None else str(row[0])

    def due(self, now: datetime, limit: int = 100) -> list[QuoteView]:
        """Views of sagas that are not terminal and whose deadline <= now: as `is_due`."""
        terminal = sorted(status.value for status in TERMINAL)
        marks = ", ".join("?" for _ in terminal)
        self._db.count("reads")
        rows = self._db.connection().execute(
            "SELECT document FROM views WHERE saga_deadline_us <= ?"
            f" AND COALESCE(saga_status, '') NOT IN ({marks})"
            " ORDER BY saga_deadline_us, id LIMIT ?",
            (epoch_micros(now), *terminal, limit),
        )
        return [QuoteView.model_validate_json(document) for (document,) in rows]

    def query(self, query: ViewQuery) -> list[ListedView]:
        """application.views.matches in SQL, ordered (and paged) by the views_by_* indexes."""
        from application.views import listed

        where, values = _view_filters(query)
        self._db.count("reads")
        rows = self._db.connection().execute(
            f"SELECT document FROM views WHERE {' AND '.join(where)}"
            " ORDER BY saga_started_at DESC, id DESC LIMIT ?",  # NULLs sort last when DESC
            (*values, query.limit),
        )
        return [listed(QuoteView.model_validate_json(document)) for (document,) in rows]

    def counts(self, now: datetime) -> SagaCounts:
        self._db.count("reads")
        conn = self._db.connection()
        rows = conn.execute(
            "SELECT saga_status, COUNT(*) FROM views WHERE saga_status IS NOT NULL"
            " GROUP BY saga_status"
        ).fetchall()
        (stuck,) = conn.execute(
            f"SELECT COUNT(*) FROM views WHERE saga_deadline_us < ? AND {_NOT_TERMINAL}",
            (epoch_micros(now), *_TERMINAL),
        ).fetchone()
        found = dict(rows)
        return SagaCounts({s.value: found.get(s.value, 0) for s in SagaStatus}, stuck)

    def close(self) -> None:
        self._db.close()


def _view_filters(query: ViewQuery) -> tuple[list[str], list[Any]]:
    from application.views import utc_text

    where, values = ["1"], []
    if query.with_saga:
        where.append("saga_status IS NOT NULL")
    if query.status is not None:
        where.append("saga_status = ?")
        values.append(query.status)
    if query.stuck_at is not None:
        where.append(f"saga_deadline_us < ? AND {_NOT_TERMINAL}")
        values += [epoch_micros(query.stuck_at), *_TERMINAL]
    if query.customer_id is not None:
        where.append("customer_id = ?")
        values.append(query.customer_id)
    if query.started_from is not None:
        where.append("saga_started_at >= ?")
        values.append(utc_text(query.started_from))
    if query.started_to is not None:
        where.append("saga_started_at <= ?")
        values.append(utc_text(query.started_to))
    if query.after is not None and query.after.started_at is None:
        where.append("saga_started_at IS NULL AND id < ?")
        values.append(query.after.view_id)
    elif query.after is not None:
        where.append("((saga_started_at, id) < (?, ?) OR saga_started_at IS NULL)")
        values += [query.after.started_at, query.after.view_id]
    return where, values
