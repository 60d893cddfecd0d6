"""One SQLite file shared by the local adapters: a connection per thread and process, WAL,
nestable write transactions (savepoints), a writer lock, and commit notifications."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import ClassVar

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: SQLite's busy handler alone
    fcntl = None  # type: ignore[assignment]

from application.ports import TransientFailure


class StorageUnavailable(TransientFailure):
    """The database file cannot be written now (e.g. the disk is full): retry later."""


def _unavailable(error: sqlite3.Error) -> StorageUnavailable | None:
    code = getattr(error, "sqlite_errorcode", None)
    if code is None or code & 0xFF not in _UNAVAILABLE:
        return None
    return StorageUnavailable(f"{error} ({getattr(error, 'sqlite_errorname', code)})")


BUSY_TIMEOUT_SECONDS = 30.0
# Result codes that say the file cannot take writes now (full disk, read-only file or mount,
# I/O error): the storage is unavailable, not the request wrong. Primary codes, so every
# extended code (SQLITE_READONLY_DBMOVED, SQLITE_IOERR_WRITE, ...) counts.
# https://www.sqlite.org/rescode.html
_UNAVAILABLE = frozenset(
    {sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN}
)
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
            try:
                yield conn
            except BaseException:
                local.depth = depth
                # SQLite may have rolled the whole transaction back itself (a full disk, an
                # I/O error): then there is nothing to roll back, and trying would hide the
                # real error behind "cannot rollback - no transaction is active".
                if depth > 0 and conn.in_transaction:
                    conn.execute(f"ROLLBACK TO sp{depth}")
                    conn.execute(f"RELEASE sp{depth}")
                elif depth == 0 and local.begun:
                    self._end(conn, "ROLLBACK")
                raise
            local.depth = depth
            if depth > 0:
                conn.execute(f"RELEASE sp{depth}")
            elif local.begun:
                self._end(conn, "COMMIT")
        except sqlite3.Error as error:
            unavailable = _unavailable(error)
            if unavailable is None:
                raise
            raise unavailable from error

    def _begin(self, conn: sqlite3.Connection) -> None:
        self._writer.acquire()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            self._writer.release()
            raise (_unavailable(exc) or TransientFailure(f"sqlite busy: {exc}")) from exc
        self._local.begun = True

    def _end(self, conn: sqlite3.Connection, verb: str) -> None:
        local = self._local
        topics, local.topics = local.topics, set()
        try:
            try:
                if verb == "COMMIT" or conn.in_transaction:
                    conn.execute(verb)
            except sqlite3.Error:
                if conn.in_transaction:
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


def database_for(
    path_or_database: str | os.PathLike[str] | SqliteDatabase, synchronous: str, schema: str
) -> SqliteDatabase:
    if isinstance(path_or_database, SqliteDatabase):
        database = path_or_database
    else:
        database = SqliteDatabase(path_or_database, synchronous)
    database.ensure_schema(schema)
    return database


def epoch_micros(at: datetime) -> int:
    """Microseconds since the epoch; naive times count as UTC (is_due would refuse to mix)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return (at - _EPOCH) // timedelta(microseconds=1)
