"""Durable leases with expiry, and the checkpoint each lease guards, in the store's SQLite file:
one lease per change-feed lease prefix, per hub partition and consumer group, per timer.

A lease is renewed by its host's heartbeat; a killed host's leases expire after `ttl` and
another host (or the restarted one) takes over from the checkpoint. Hosts balance: none takes
more than its fair share of the leases while other hosts are alive, and one holding more than
its share gives the surplus back between invocations. Checkpoints are fenced: only the owner
can move one.
"""

from __future__ import annotations

import math
import sqlite3
import threading
import time
from collections.abc import Iterable

from adapters.sqlite_database import SqliteDatabase

_SCHEMA = """
CREATE TABLE IF NOT EXISTS devhost_leases (
    name TEXT PRIMARY KEY,
    owner TEXT,
    expires_us INTEGER NOT NULL DEFAULT 0,
    checkpoint INTEGER
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS devhost_hosts (
    owner TEXT PRIMARY KEY,
    expires_us INTEGER NOT NULL
) WITHOUT ROWID
"""


def _now_us() -> int:
    return time.time_ns() // 1000


class LeaseKeeper:
    def __init__(
        self, database: SqliteDatabase, owner: str, names: list[str], ttl: float = 5.0
    ) -> None:
        self.database, self.owner, self.names, self.ttl = database, owner, list(names), ttl
        database.ensure_schema(_SCHEMA)
        self._lock = threading.Lock()
        self._held: dict[str, float] = {}  # name -> monotonic time the lease is safe until
        # The checkpoint of each lease held since it was taken: only the owner moves it, so
        # a pump step need not read it again (one SELECT per step, ~4 per saga).
        self._checkpoints: dict[str, int | None] = {}
        self._hosts = 1
        # Leases shared out evenly among hosts, group by group (a function's feed ranges, a
        # hub's partitions); a name not listed is in one group with the others not listed.
        self.groups: dict[str, str] = {}

    # --- the heartbeat -----------------------------------------------------------------------

    def heartbeat(self) -> None:
        """Announce this host, renew its leases and learn how many hosts share the work."""
        started, now = time.monotonic(), _now_us()
        expires = now + int(self.ttl * 1e6)
        with self.database.transaction() as conn:
            if self.names:  # a host that competes for no lease takes no share
                conn.execute(
                    "INSERT INTO devhost_hosts (owner, expires_us) VALUES (?, ?)"
                    " ON CONFLICT (owner) DO UPDATE SET expires_us = excluded.expires_us",
                    (self.owner, expires),
                )
            conn.execute("DELETE FROM devhost_hosts WHERE expires_us <= ?", (now,))
            conn.execute(
                "UPDATE devhost_leases SET expires_us = ? WHERE owner = ? AND expires_us > ?",
                (expires, self.owner, now),
            )
            held = {
                name
                for (name,) in conn.execute(
                    "SELECT name FROM devhost_leases WHERE owner = ? AND expires_us = ?",
                    (self.owner, expires),
                )
            }
            (hosts,) = conn.execute("SELECT COUNT(*) FROM devhost_hosts").fetchone()
        with self._lock:
            self._hosts = max(1, hosts)
            self._held = dict.fromkeys(held, started + self.ttl * 0.8)
            self._checkpoints = {n: c for n, c in self._checkpoints.items() if n in held}

    def forget_host(self) -> None:
        """Leave: give back every lease (a graceful stop) so others take over at once."""
        with self.database.transaction() as conn:
            conn.execute(
                "UPDATE devhost_leases SET owner = NULL, expires_us = 0 WHERE owner = ?",
                (self.owner,),
            )
            conn.execute("DELETE FROM devhost_hosts WHERE owner = ?", (self.owner,))
        with self._lock:
            self._held.clear()
            self._checkpoints.clear()

    # --- leases ------------------------------------------------------------------------------

    def holds(self, name: str) -> bool:
        with self._lock:
            return self._held.get(name, 0.0) > time.monotonic()

    def try_acquire(self, name: str) -> bool:
        """Take a free or expired lease if this host is below its fair share."""
        with self._lock:
            if self._in_group(self._held, name) >= self._share(name):
                return False
        started, now = time.monotonic(), _now_us()
        with self.database.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO devhost_leases (name) VALUES (?)", (name,))
            taken = conn.execute(
                "UPDATE devhost_leases SET owner = ?, expires_us = ?"
                " WHERE name = ? AND (owner = ? OR owner IS NULL OR expires_us <= ?)",
                (self.owner, now + int(self.ttl * 1e6), name, self.owner, now),
            ).rowcount
        if taken:
            with self._lock:
                self._held[name] = started + self.ttl * 0.8
                self._checkpoints.pop(name, None)  # another host may have moved it meanwhile
        return bool(taken)

    def release_surplus(self, name: str) -> bool:
        """Give `name` back if this host holds more than its share (True: it was given)."""
        with self._lock:
            if self._in_group(self._held, name) <= self._share(name):
                return False
            self._held.pop(name, None)
        self.release(name)
        return True

    def _share(self, name: str) -> int:
        """The most leases of `name`'s group one host takes while the others are alive."""
        return math.ceil(self._in_group(self.names, name) / self._hosts)

    def _in_group(self, names: Iterable[str], name: str) -> int:
        group = self.groups.get(name, "")
        return sum(1 for other in names if self.groups.get(other, "") == group)

    def release(self, name: str) -> None:
        with self._lock:
            self._held.pop(name, None)
            self._checkpoints.pop(name, None)
        with self.database.transaction() as conn:
            conn.execute(
                "UPDATE devhost_leases SET owner = NULL, expires_us = 0"
                " WHERE name = ? AND owner = ?",
                (name, self.owner),
            )

    # --- checkpoints -------------------------------------------------------------------------

    def checkpoint(self, name: str) -> int | None:
        """The lease's checkpoint: as this host last read or moved it while it holds the
        lease without a break, else as stored."""
        with self._lock:
            if name in self._checkpoints and self._held.get(name, 0.0) > time.monotonic():
                return self._checkpoints[name]
        row = (
            self.database.connection()
            .execute("SELECT checkpoint FROM devhost_leases WHERE name = ?", (name,))
            .fetchone()
        )
        value = None if row is None else row[0]
        with self._lock:
            if name in self._held:
                self._checkpoints[name] = value
        return value

    def save_checkpoint(self, name: str, value: int) -> bool:
        """Move the checkpoint if this host still owns the lease (and renew it); False, and
        the lease is dropped, if another host took it over meanwhile."""
        started, rows = time.monotonic(), []
        move = (value, _now_us() + int(self.ttl * 1e6), name, self.owner)
        # Deferred: a leader runs it with the units queued meanwhile, in their commit.
        with self.database.transaction(deferred=True):
            self.database.defer(
                "lease",
                name,
                None,
                lambda conn: rows.extend(move_checkpoints(conn, [move])),
                batch=(move_checkpoints, move),
                done=rows.append,
            )
        moved = rows[0]
        with self._lock:
            if moved:
                self._held[name] = started + self.ttl * 0.8
                self._checkpoints[name] = value
            else:
                self._held.pop(name, None)
                self._checkpoints.pop(name, None)
        return bool(moved)


def move_checkpoints(conn: sqlite3.Connection, moves: list[tuple[int, int, str, str]]) -> list[int]:
    """(checkpoint, expires_us, name, owner) each: rows changed (0: the owner lost the lease)."""
    return [
        conn.execute(
            "UPDATE devhost_leases SET checkpoint = ?, expires_us = ? WHERE name = ? AND owner = ?",
            move,
        ).rowcount
        for move in moves
    ]
