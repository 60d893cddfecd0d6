"""One SQLite file shared by the local adapters: a connection per thread and process, WAL,
nestable write transactions (savepoints), group commit, and commit notifications."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: SQLite's busy handler alone
    fcntl = None  # type: ignore[assignment]

from application.ports import TransientFailure

if TYPE_CHECKING:
    from adapters.sqlite_writer import WriterProcess


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
# Units of work that share one commit at most (so its first member waits for a bounded number
# of others): with synchronous=FULL a commit is an fsync, milliseconds, whatever it holds.
MAX_GROUP = 32
# Writers that must be queued for a unit to hand its group on rather than commit: with one,
# that is mostly a pump's checkpoint right after its invocation, which would commit the unit
# and react to its writes (e.g. log its next step) before the unit's own caller is answered.
# Under load many wait, and they share commits.
MIN_QUEUE = 2
# Units a group needs to be sent to the writer process (use_writer_process). Measured at
# 10 sagas/s (`bench --rate 10`), groups of 2 or 3 sent there made p99 approval -> end 80 to
# 120 ms where the host itself wrote them in 30 to 40 ms.
WRITER_PROCESS_UNITS = 4
FEED_TOPIC = "events"  # announced when an append commits: the local change feed moved


class SqliteDatabase:
    """One SQLite file: a connection per (process, thread), nestable write transactions, and
    commit notifications. Get the process's one instance per file with `shared(path)`, so
    stores on the same file share connections and a view write inside an event-store
    transaction joins it instead of waiting on it.

    Group commit: a top-level transaction is a *unit* of a group that shares one SQLite
    transaction and one COMMIT (one fsync with synchronous=FULL). Units take turns on the
    group's connection (each inside a savepoint, so a failed unit rolls back only its own
    work); a unit that ends while others wait to write hands the group on instead of
    committing, and the last one commits for all. No unit returns before its group's commit
    (or returns its error), so what a caller was told is durable is. Writers in this process
    queue on a condition; processes queue on an advisory file lock (`<file>-writer.lock`),
    held from a group's BEGIN IMMEDIATE to its end: a waiting writer wakes the moment it is
    free, where SQLite's own busy handler would sleep in steps of up to 100 ms. A killed
    process drops its file lock with its file descriptors.

    Deferring units (`transaction(deferred=True)`, every local invocation) do not take turns:
    their writes are queued, and at a unit's end the first to find the writer free leads,
    running every queued unit's SQL in one thread (`_submit`, `_lead`).
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
        # Waiters per topic: a commit wakes only the pumps of the topics it changed (one
        # Condition for all woke every idle pump on every commit: GIL hand-offs for nothing).
        self._changes = threading.Lock()
        self._generations: dict[str, int] = {}
        self._waiters: dict[str, set[threading.Event]] = {}
        self._stats: Counter[str] = Counter()
        self._schemas: set[str] = set()
        self._child: WriterProcess | None = None
        # Called with the topics of each commit of this process (devhost/doorbell.py rings the
        # other processes on this file with it).
        self.on_commit: Callable[[set[str]], None] | None = None

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

    @property
    def _writer(self) -> _Writer:
        return _writer_for(self.path)

    def connection(self) -> sqlite3.Connection:
        """The connection to use now: the write group's while this thread's unit has written
        (so it reads its own and its group's writes), this thread's own otherwise."""
        taken = getattr(self._local, "taken", None)
        if taken is not None:
            return taken.conn
        return self._own_connection()

    def _own_connection(self) -> sqlite3.Connection:
        local = self._local
        if getattr(local, "pid", None) != os.getpid():  # a fork must not share connections
            # isolation_level=None: no implicit transactions; `transaction()` is explicit.
            conn = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_SECONDS,
                isolation_level=None,
                # the write group's connection is used by each of its units' threads in turn
                check_same_thread=False,
            )
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
            use_wal(conn, self.path)
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            local.conn, local.pid = conn, os.getpid()
            with self._lock:
                self._opened.append(conn)
        return local.conn  # type: ignore[no-any-return]

    @contextmanager
    def transaction(
        self, lazy: bool = False, deferred: bool = False, verify: bool = True
    ) -> Iterator[sqlite3.Connection]:
        """A write transaction of this thread (a unit of a group commit); nested ones are
        savepoints inside it.

        `lazy`: join a group only when a nested transaction (a write) first needs it, so a
        unit of work that turns out to read only never blocks writers, and its Python work
        before its first write runs while others write.

        `deferred` (implies lazy): the stores queue their writes (`defer`) instead of running
        them, and the unit joins a group only at its end, to run them: the write lock is then
        held for the SQL alone, not for the Python work between the writes. A store checks
        each write against what is committed and what the unit queued (`pending`), so a
        conflict it can see is raised at the call; one that only the queued SQL finds (another
        writer came first) fails the whole unit at its end with ConcurrencyConflict, and
        nothing of it is written: its caller runs the unit again. `verify=False`: the stores
        skip those checks (the reads) and leave every conflict to the queued SQL, which is
        cheaper while the callers' cached states are right; a run again after a conflict
        should verify, so that a wrong cache is found at the call, where it is mended.
        """
        local = self._local
        depth: int = getattr(local, "depth", 0)
        try:
            if depth == 0:
                local.depth, local.taken, local.topics = 1, None, {}
                local.pending = _Pending(verify=verify) if deferred else None
                try:
                    if not (lazy or deferred):
                        self._join()
                    yield self.connection()
                except BaseException as error:
                    self._leave(error)
                    raise
                else:
                    self._leave(None)
                finally:
                    local.depth, local.taken, local.topics, local.pending = 0, None, {}, None
                return
            if local.taken is None:
                self._join()
                self._flush()
            conn: sqlite3.Connection = local.taken.conn
            conn.execute(f"SAVEPOINT sp{depth}")
            local.depth = depth + 1
            try:
                yield conn
            except BaseException:
                # SQLite may have rolled the whole transaction back itself (a full disk, an
                # I/O error): then there is nothing to roll back, and trying would hide the
                # real error behind "cannot rollback - no transaction is active".
                if conn.in_transaction:
                    conn.execute(f"ROLLBACK TO sp{depth}")
                    conn.execute(f"RELEASE sp{depth}")
                raise
            finally:
                local.depth = depth
            conn.execute(f"RELEASE sp{depth}")
        except sqlite3.Error as error:
            unavailable = _unavailable(error)
            if unavailable is None:
                raise
            raise unavailable from error

    def defer(
        self,
        kind: str,
        key: str,
        value: object,
        run: Callable[[sqlite3.Connection], None],
        topic: str | None = None,
        batch: tuple[Batcher, object] | None = None,
        done: Callable[[object], None] | None = None,
    ) -> None:
        """Run a write (`run`, given the connection) in this thread's transaction: queued
        until the unit's end in a deferring unit that has not joined its group yet (`value`
        is what `pending(kind, key)` then returns for it), run now otherwise (in its own
        transaction outside a unit). `batch` (batcher, payload): the same write as data, so
        that a leader running many units can make the writes of one batcher one statement
        (`batcher(conn, payloads)`, in queue order): fewer statements under the write lock.
        If the batched statements fail, every unit runs again alone with its `run`s, so
        that the failure is its own. A batcher answers a result per payload (or None):
        `done(result)` is called with the op's, where the batch ran."""
        pending = self._deferring()
        if pending is None:
            with self.transaction() as conn:
                run(conn)
                if topic is not None:
                    self.changed(topic)
            return
        if pending.failed is not None:
            raise pending.failed
        if topic is not None:
            self.changed(topic)
        pending.ops.append(_Op(kind, key, value, run, batch, done))
        pending.values.setdefault((kind, key), []).append(value)

    def pending(self, kind: str, key: str) -> list[object]:
        """What this thread's deferring unit queued for (kind, key), oldest first."""
        pending = self._deferring()
        return [] if pending is None else pending.values.get((kind, key), [])

    def deferring(self) -> bool:
        """Whether writes of this thread are queued now (see `transaction(deferred=True)`)."""
        return self._deferring() is not None

    def verifying(self) -> bool:
        """Whether a store checks a write before it queues it (see `transaction`): always
        where writes are not queued."""
        pending = self._deferring()
        return pending is None or pending.verify

    def _deferring(self) -> _Pending | None:
        local = self._local
        if getattr(local, "taken", None) is not None:
            return None
        return getattr(local, "pending", None)

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """All or none of the writes inside: a transaction (a savepoint in a unit), or in a
        deferring unit a mark in its queue, back to which an exception drops the writes."""
        pending = self._deferring()
        if pending is None:
            with self.transaction():
                yield
            return
        mark = len(pending.ops)
        try:
            yield
        except BaseException:
            if self._deferring() is pending:
                pending.truncate(mark)
            raise

    def _flush(self) -> None:
        """Run the queued writes of this thread's unit, which has just joined its group. A
        write that fails there fails the unit: its savepoint is rolled back at its end."""
        pending: _Pending | None = self._local.pending
        if pending is None or not pending.ops:
            return
        ops, pending.ops, pending.values = pending.ops, [], {}
        conn = self._local.taken.conn
        try:
            for op in ops:
                op.run(conn)
        except BaseException as error:
            pending.failed = error
            raise

    def _begin(self) -> _Group:
        """Open a group (this thread holds the turn): the file lock, then BEGIN IMMEDIATE."""
        writer, conn = self._writer, self._own_connection()
        writer.file_lock.acquire()
        writer.locked_at = time.perf_counter()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            writer.file_lock.release()
            raise (_unavailable(exc) or TransientFailure(f"sqlite busy: {exc}")) from exc
        group = writer.group = _Group(conn)
        return group

    def _join(self) -> None:
        """Take the write turn, begin a group if none is open, and open this unit in it."""
        writer, local = self._writer, self._local
        with writer.lock:
            if writer.owner == threading.get_ident():  # it would wait for itself forever
                raise RuntimeError(
                    f"this thread writes to {self.path} through another database object"
                )
            writer.waiting += 1
            while writer.owner is not None:
                writer.turn.wait()
            writer.waiting -= 1
            writer.owner = threading.get_ident()
        group = writer.group
        try:
            if group is None:
                group = self._begin()
            group.conn.execute("SAVEPOINT unit")
        except BaseException:
            if writer.group is None:
                writer.hand_over()
            else:
                self._finish(writer.group)  # the open group goes on without this unit
            raise
        group.members += 1
        local.taken = group

    def _leave(self, error: BaseException | None) -> None:
        """End this thread's unit: keep or undo its work, then hand the group on to a waiting
        writer or commit it; return once it committed (raise if it did not)."""
        writer, local = self._writer, self._local
        pending: _Pending | None = local.pending
        if local.taken is None and pending is not None and pending.ops and error is None:
            self._submit(_Ticket(pending.ops, local.topics))
            return
        group: _Group | None = local.taken
        if group is None:
            return  # a lazy unit that never wrote
        local.taken = None
        error = error or (pending.failed if pending is not None else None)
        conn = group.conn
        try:
            if error is None:
                conn.execute("RELEASE unit")
                group.add_changes(local.topics)
            elif conn.in_transaction:
                conn.execute("ROLLBACK TO unit")
                conn.execute("RELEASE unit")
        except sqlite3.Error as failure:
            group.error = group.error or failure
        if not conn.in_transaction:  # SQLite rolled back everything: the group's work is lost
            group.error = group.error or error or TransientFailure("the write group rolled back")
        with writer.lock:
            handing = writer.waiting >= MIN_QUEUE and group.members < MAX_GROUP and not group.error
            if handing:
                writer.owner = None
                writer.turn.notify()
                group.asleep += 1
                while not group.done:
                    writer.ended.wait()
                group.asleep -= 1
                if not group.asleep:
                    writer.ended.notify_all()  # the committer waits for the last of them
        if not handing:
            self._finish(group)
        if pending is not None and pending.failed is not None:
            raise pending.failed
        if error is None and group.error is not None:
            raise _group_failure(group.error)

    def _submit(self, ticket: _Ticket) -> None:
        """Run a deferring unit's queued writes and return once they committed (raise why
        not). The first unit to find the writer free leads: it runs every unit queued by
        then, each in its own savepoint, and commits them together; the others only wait.
        One thread runs the whole group's SQL, so the write lock is not held across a hand-off
        of the turn (and of the GIL) per unit."""
        writer, me = self._writer, threading.get_ident()
        with writer.lock:
            if writer.owner == me:  # it would wait for itself forever
                raise RuntimeError(f"this thread writes to {self.path} through another object")
            writer.tickets.append(ticket)
            writer.waiting += 1
            while writer.owner is not None and not ticket.done:
                writer.turn.wait()
            writer.waiting -= 1
            if ticket.done:
                if writer.owner is None and writer.waiting:
                    writer.turn.notify()  # a turn this wake-up may have taken from another
            else:
                writer.owner = me
                tickets, writer.tickets = writer.tickets, []
        if not ticket.done:
            self._lead(tickets)
        if ticket.error is not None:
            raise ticket.error

    def _lead(self, tickets: list[_Ticket]) -> None:
        writer = self._writer
        group = writer.group
        began = group is None
        # A small group (a quiet host) is written here: the round trip to the child would
        # only add to its latency; under load the groups are many units, and go there.
        many = len(tickets) >= WRITER_PROCESS_UNITS
        sent = began and many and self._child is not None
        outcome = self._in_child(tickets) if sent else None
        if outcome == "committed":
            return
        try:
            if group is None:
                group = self._begin()
        except BaseException as error:
            with writer.lock:
                for ticket in tickets:
                    ticket.error, ticket.done = error, True
                writer.hand_over_locked()
                writer.turn.notify_all()
            return
        conn = group.conn
        # After the child rolled the group back, running it whole here would fail alike.
        whole = began and len(tickets) > 1 and outcome != "failed"
        if whole and self._run_whole(conn, tickets):
            group.members += len(tickets)
            self._finish(group, tickets)
            return
        for ticket in tickets:
            try:
                conn.execute("SAVEPOINT unit")
                for op in ticket.ops:
                    op.run(conn)
                conn.execute("RELEASE unit")
                group.add_changes(ticket.topics)
            except BaseException as failure:
                ticket.error = _unavailable(failure) if isinstance(failure, sqlite3.Error) else None
                ticket.error = ticket.error or failure
                try:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK TO unit")
                        conn.execute("RELEASE unit")
                except sqlite3.Error as lost:
                    group.error = group.error or lost
            if not conn.in_transaction:  # SQLite rolled back everything: the group is lost
                group.error = group.error or TransientFailure("the write group rolled back")
        group.members += len(tickets)
        self._finish(group, tickets)

    def use_writer_process(self) -> None:
        """Run this process's write groups in a child process (adapters/sqlite_writer.py)
        where every write of them can: its SQL then never waits for this process's GIL."""
        from adapters.sqlite_writer import WriterProcess

        self._child = WriterProcess(self.path, self._synchronous)

    def _in_child(self, tickets: list[_Ticket]) -> str:
        """Run and commit the units in the writer process: "committed"; "failed" if the
        child rolled the group back (then they run here, one by one, so that the failure is
        its own); "not sent" if one of their writes cannot go there or the child is gone.
        Nothing is written unless committed."""
        from adapters.sqlite_writer import WriterFailed, batcher_name

        if any(op.batch is None for ticket in tickets for op in ticket.ops):
            return "not sent"
        assert self._child is not None
        batches, _ = _batches(tickets)
        started = time.perf_counter()
        try:
            results = self._child.run([(batcher_name(b), p) for b, p in batches.items()])
        except WriterFailed:
            self._stats["writer process fallbacks"] += 1
            return "failed"
        except (EOFError, OSError):  # the child died: this process writes from now on
            self._child = None
            return "not sent"
        _deliver(tickets, list(batches), results)
        self._stats["write lock us"] += int((time.perf_counter() - started) * 1e6)
        self._stats["commits"] += 1
        self._stats["writer process groups"] += 1
        for ticket in tickets:
            for database, topics in ticket.topics.items():
                database._announce(topics)
        writer = self._writer
        with writer.lock:
            for ticket in tickets:
                ticket.done = True
            writer.hand_over_locked()
            writer.turn.notify_all()
        return "committed"

    def _run_whole(self, conn: sqlite3.Connection, tickets: list[_Ticket]) -> bool:
        """Run the units of a group this leader began in one savepoint, not one each (two
        statements fewer per unit, each a GIL hand-off under load): True if all succeeded.
        If one failed, none of them stays, and they run again one savepoint each."""
        conn.execute("SAVEPOINT units")
        batches, alone = _batches(tickets)
        try:
            results = [batcher(conn, payloads) for batcher, payloads in batches.items()]
            for run in alone:
                run(conn)
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK TO units")
                conn.execute("RELEASE units")
            return False
        conn.execute("RELEASE units")
        _deliver(tickets, list(batches), results)
        group = self._writer.group
        assert group is not None
        for ticket in tickets:
            group.add_changes(ticket.topics)
        return True

    def _finish(self, group: _Group, tickets: Sequence[_Ticket] = ()) -> None:
        """Commit the group (roll it back if it failed), then wake its members, the units
        whose `tickets` a leader ran in it, and writers."""
        writer, conn = self._writer, group.conn
        committed = False
        try:
            try:
                if group.error is None:
                    conn.execute("COMMIT")
                    committed = True
                elif conn.in_transaction:
                    conn.execute("ROLLBACK")
            except sqlite3.Error as failure:
                group.error = failure
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # group.error already says why; the connection is unusable until reopened
        finally:
            writer.file_lock.release()
            # Time a group held the file's write lock (the bench prints it per saga): what the
            # other processes waited for, at most.
            self._stats["write lock us"] += int((time.perf_counter() - writer.locked_at) * 1e6)
            self._stats["commits" if committed else "rollbacks"] += 1
            if committed:
                for database, topics in group.changes.items():
                    database._announce(topics)
            with writer.lock:
                writer.group = None
                group.done = True
                for ticket in tickets:  # done before the turn is free: none may lead again
                    if ticket.error is None and group.error is not None:
                        ticket.error = _group_failure(group.error)
                    ticket.done = True
                writer.ended.notify_all()
                writer.hand_over_locked()
                if tickets:
                    writer.turn.notify_all()  # their units wait for the turn or for this
                # Let the members go on first (each to answer its caller and log it), so the
                # committer, often a pump, does not react to their writes before they do.
                while group.asleep:
                    writer.ended.wait()

    def _announce(self, topics: set[str]) -> None:
        if not topics:
            return
        self.announce(topics)
        if self.on_commit is not None:
            self.on_commit(topics)

    def announce(self, topics: set[str]) -> None:
        """Wake the waiters of `topics` (a commit of this process, or of another one that said
        so)."""
        with self._changes:
            for topic in topics:
                self._generations[topic] = self._generations.get(topic, 0) + 1
                for woken in self._waiters.get(topic, ()):
                    woken.set()

    def changed(self, topic: str) -> None:
        """Say that the current transaction changes `topic`: waiters wake when it commits."""
        self._local.topics.setdefault(self, set()).add(topic)

    def generation(self, topic: str) -> int:
        with self._changes:
            return self._generations.get(topic, 0)

    def wait_for_change(self, topics: Sequence[str], seen: Sequence[int], timeout: float) -> None:
        """Wait until a commit changed one of `topics` since `seen` (their generations), or
        `timeout` passed (another process's commit wakes only those it `announce`s to)."""
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
        child, self._child = self._child, None
        if child is not None:
            child.close()
        with self._lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            conn.close()
        self._local = threading.local()


def _group_failure(cause: BaseException) -> BaseException:
    """What a unit whose own work succeeded raises when its group could not commit."""
    if isinstance(cause, TransientFailure):
        return cause
    if isinstance(cause, sqlite3.Error):
        unavailable = _unavailable(cause)
        if unavailable is not None:
            return unavailable
    return TransientFailure(f"the write group did not commit: {cause!r}")


# Writes of one kind as one statement: batcher(conn, payloads), the payloads in queue order.
Batcher = Callable[[sqlite3.Connection, list[Any]], list[Any] | None]


@dataclass(frozen=True, eq=False)
class _Op:
    """A queued write: `run` it alone, or as `batch` with others (see SqliteDatabase.defer)."""

    kind: str
    key: str
    value: object
    run: Callable[[sqlite3.Connection], None]
    batch: tuple[Batcher, object] | None = None
    done: Callable[[object], None] | None = None  # given the batch's result for this op


@dataclass(eq=False)
class _Pending:
    """A deferring unit's queued writes, in order, and their values by (kind, key)."""

    ops: list[_Op] = field(default_factory=list)
    values: dict[tuple[str, str], list[object]] = field(default_factory=dict)
    failed: BaseException | None = None  # a queued write failed: the unit must not commit
    verify: bool = True

    def truncate(self, mark: int) -> None:
        del self.ops[mark:]
        self.values = {}
        for op in self.ops:
            self.values.setdefault((op.kind, op.key), []).append(op.value)


@dataclass(eq=False)
class _Ticket:
    """A deferring unit's writes, waiting for a leader to run and commit them."""

    ops: list[_Op]
    topics: dict[SqliteDatabase, set[str]]
    done: bool = False
    error: BaseException | None = None


@dataclass(eq=False)
class _Group:
    """The units sharing one SQLite transaction, on the connection of the one that began it."""

    conn: sqlite3.Connection
    members: int = 0
    asleep: int = 0  # members waiting for the commit
    changes: dict[SqliteDatabase, set[str]] = field(default_factory=dict)
    error: BaseException | None = None
    done: bool = False

    def add_changes(self, topics: dict[SqliteDatabase, set[str]]) -> None:
        """A member's changed topics, announced when the group commits."""
        for database, changed in topics.items():
            self.changes.setdefault(database, set()).update(changed)


class _Writer:
    """Per file and process: whose turn it is on the open group, who waits, the file lock."""

    def __init__(self, path: str) -> None:
        self.file_lock = _FileLock(f"{path}-writer.lock")
        self.lock = threading.Lock()
        self.turn = threading.Condition(self.lock)  # a writer waits for the group's connection
        self.ended = threading.Condition(self.lock)  # a unit waits for its group to commit
        self.owner: int | None = None
        self.waiting = 0
        self.group: _Group | None = None
        self.tickets: list[_Ticket] = []
        self.locked_at = 0.0  # perf_counter() when this process took the file lock

    def hand_over(self) -> None:
        with self.lock:
            self.hand_over_locked()

    def hand_over_locked(self) -> None:
        self.owner = None
        self.turn.notify()


class _FileLock:
    """An advisory lock on a side file: one process's write group at a time."""

    def __init__(self, path: str) -> None:
        self._path, self._fd, self._pid = path, -1, -1

    def acquire(self) -> None:
        if fcntl is None:
            return
        if self._pid != os.getpid():
            self._fd, self._pid = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644), os.getpid()
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def release(self) -> None:
        if fcntl is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Release it and close its file (a lock taken once)."""
        if fcntl is not None and self._fd >= 0:
            os.close(self._fd)  # closing the file releases the lock
            self._fd, self._pid = -1, -1


_writers: dict[tuple[str, int], _Writer] = {}
_writers_lock = threading.Lock()


def use_wal(conn: sqlite3.Connection, path: str) -> None:
    """Put the file in WAL mode (a no-op once it is). Switching a new file takes an exclusive
    lock that SQLite does not wait for: processes opening a new file at once got "database is
    locked" (measured: 3 of 120 opens, six processes at a time). So one at a time, by a lock
    file of its own (not the writer's, which a group of this process may hold)."""
    lock = _FileLock(f"{path}-open.lock")
    lock.acquire()
    try:
        conn.execute("PRAGMA journal_mode = WAL")
    finally:
        lock.close()


def _writer_for(path: str) -> _Writer:
    """One writer per file and process, whichever database objects open the file (a fork
    gets its own: the parent's threads and their turns are not the child's)."""
    key = (path, os.getpid())
    writer = _writers.get(key)
    if writer is None:
        with _writers_lock:
            writer = _writers.get(key)
            if writer is None:
                writer = _writers[key] = _Writer(path)
    return writer


def _batches(
    tickets: list[_Ticket],
) -> tuple[dict[Batcher, list[object]], list[Callable[[sqlite3.Connection], None]]]:
    """The units' batchable writes by batcher (payloads in queue order), and the others."""
    batches: dict[Batcher, list[object]] = {}
    alone: list[Callable[[sqlite3.Connection], None]] = []
    for ticket in tickets:
        for op in ticket.ops:
            if op.batch is None:
                alone.append(op.run)
            else:
                batches.setdefault(op.batch[0], []).append(op.batch[1])
    return batches, alone


def _deliver(tickets: list[_Ticket], batchers: list[Batcher], results: list[Any]) -> None:
    """Give each batched op that asked for it its result (the batchers' in `batchers` order)."""
    by_batcher = dict(zip(batchers, results, strict=True))
    seen: dict[Batcher, int] = {}
    for ticket in tickets:
        for op in ticket.ops:
            if op.batch is None:
                continue
            index = seen[op.batch[0]] = seen.get(op.batch[0], -1) + 1
            answers = by_batcher[op.batch[0]]
            if op.done is not None and answers is not None:
                op.done(answers[index])


ROWS_PER_STATEMENT = 500  # far below SQLite's limit on bound variables (32766 by default)


def insert_rows(conn: sqlite3.Connection, insert: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """`insert` ("INSERT INTO t (a, b)") of many rows in as few statements as can hold them."""
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        chunk = rows[start : start + ROWS_PER_STATEMENT]
        marks = "(" + ", ".join("?" * len(chunk[0])) + ")"
        conn.execute(
            f"{insert} VALUES {', '.join([marks] * len(chunk))}",
            [value for row in chunk for value in row],
        )


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
