"""The local host's Event Hubs: one durable log per hub in the SQLite store's file, split into
partitions by a deterministic hash of the partition key, with per-partition sequence numbers,
offsets and enqueued times. Same file as the stores, so a trigger's whole batch commits once.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from adapters.eventhubs import message_properties, route
from adapters.sqlite_database import SqliteDatabase, insert_rows
from domain.messages import CommandEnvelope, EventEnvelope
from domain.registry import command_hubs

DEFAULT_PARTITIONS = 4

_SCHEMA = """
CREATE TABLE IF NOT EXISTS hub_messages (
    hub TEXT NOT NULL,
    partition INTEGER NOT NULL,
    sequence_number INTEGER NOT NULL,
    byte_offset INTEGER NOT NULL,
    partition_key TEXT NOT NULL,
    enqueued_us INTEGER NOT NULL,
    properties TEXT NOT NULL,
    body BLOB NOT NULL,
    PRIMARY KEY (hub, partition, sequence_number)
) WITHOUT ROWID
"""


def partition_for(key: str, partitions: int) -> int:
    """The partition of a partition key: CRC-32 of its UTF-8 bytes, modulo the count (stable
    across processes and runs; not the hash Event Hubs uses, which is not part of its API)."""
    return zlib.crc32(key.encode("utf-8")) % partitions


def hub_topic(hub: str, partition: int) -> str:
    """The commit notification a partition's readers wait on."""
    return f"hub:{hub}:{partition}"


@dataclass(frozen=True)
class HubMessage:
    hub: str
    partition: int
    sequence_number: int  # from 0 per partition, as in Event Hubs
    offset: int  # bytes before this message in its partition
    partition_key: str
    enqueued_time: datetime
    properties: dict[str, Any]
    body: bytes


class SqliteHubLog:
    """Append to and read the partitions of the hubs kept in one SQLite database."""

    def __init__(self, database: SqliteDatabase, partitions: int = DEFAULT_PARTITIONS) -> None:
        if partitions < 1:
            raise ValueError("a hub needs at least one partition")
        self.database, self.partitions = database, partitions
        database.ensure_schema(_SCHEMA)

    def append(self, hub: str, key: str, items: Sequence[tuple[bytes, dict[str, Any]]]) -> None:
        """Append messages of one partition key in order (inside the caller's transaction, if
        any: they become visible when it commits)."""
        partition = partition_for(key, self.partitions)
        enqueued = time.time_ns() // 1000
        self.database.count("hub writes", len(items))

        messages = [(key, enqueued, json.dumps(properties), body) for body, properties in items]
        batch = (_insert_messages, (hub, partition, messages))
        self.database.defer(
            "hub",
            hub,
            None,
            lambda conn: _insert_messages(conn, [batch[1]]),
            hub_topic(hub, partition),
            batch,
        )

    def read(self, hub: str, partition: int, after: int, limit: int) -> list[HubMessage]:
        """Messages of one partition with sequence number > `after` (-1: from the start)."""
        self.database.count("hub reads")
        rows = self.database.connection().execute(
            "SELECT sequence_number, byte_offset, partition_key, enqueued_us, properties, body"
            " FROM hub_messages WHERE hub = ? AND partition = ? AND sequence_number > ?"
            " ORDER BY sequence_number LIMIT ?",
            (hub, partition, after, limit),
        )
        return [
            HubMessage(
                hub,
                partition,
                sequence,
                offset,
                key,
                datetime.fromtimestamp(enqueued_us / 1e6, UTC),
                json.loads(properties),
                bytes(body),
            )
            for sequence, offset, key, enqueued_us, properties, body in rows
        ]


def _insert_messages(
    conn: sqlite3.Connection, appends: list[tuple[str, int, list[tuple[Any, ...]]]]
) -> None:
    """Appends to hub partitions (hub, partition, [(key, enqueued_us, properties, body)]), in
    order: each partition's next sequence numbers and offsets after its last message, all the
    rows in one statement (SqliteDatabase.defer's batch)."""
    next_of: dict[tuple[str, int], tuple[int, int]] = {}
    rows = []
    for hub, partition, messages in appends:
        at = next_of.get((hub, partition))
        if at is None:
            last = conn.execute(
                "SELECT sequence_number, byte_offset + length(body) FROM hub_messages"
                " WHERE hub = ? AND partition = ? ORDER BY sequence_number DESC LIMIT 1",
                (hub, partition),
            ).fetchone()
            at = (last[0] + 1, last[1]) if last else (0, 0)
        sequence, offset = at
        for key, enqueued, properties, body in messages:
            rows.append((hub, partition, sequence, offset, key, enqueued, properties, body))
            sequence, offset = sequence + 1, offset + len(body)
        next_of[(hub, partition)] = (sequence, offset)
    insert_rows(
        conn,
        "INSERT INTO hub_messages (hub, partition, sequence_number, byte_offset, partition_key,"
        " enqueued_us, properties, body)",
        rows,
    )


class SqliteLogCommandPublisher:
    """CommandPublisher over the SQLite hub logs, routed exactly as EventHubsCommandPublisher
    routes: a command to its aggregate's hub keyed by aggregate id, an event to saga-events
    keyed by correlation id. All of one call is written in one transaction, or none of it."""

    def __init__(self, log: SqliteHubLog, hubs: Mapping[str, str], saga_events_hub: str) -> None:
        self.log, self._hubs, self._saga_events_hub = log, dict(hubs), saga_events_hub

    @classmethod
    def from_settings(cls, settings: Any, partitions: int = DEFAULT_PARTITIONS) -> Self:
        """On `<SQLITE_DIR>/store.db`, the file of the SQLite stores, with the hub settings."""
        directory = Path(settings["SQLITE_DIR"])
        directory.mkdir(parents=True, exist_ok=True)
        database = SqliteDatabase.shared(os.fspath(directory / "store.db"))
        hubs = command_hubs(lambda name: settings[name])
        return cls(SqliteHubLog(database, partitions), hubs, settings["SAGA_EVENTS_HUB"])

    @property
    def routes(self) -> Mapping[str, str]:
        """The hub each aggregate category's commands go to."""
        return dict(self._hubs)

    def publish(
        self, commands: Sequence[CommandEnvelope], events: Sequence[EventEnvelope] = ()
    ) -> None:
        groups = route(commands, events, self._hubs, self._saga_events_hub)
        if not groups:
            return
        with self.log.database.atomic():
            for (hub, key), messages in groups.items():
                self.log.append(
                    hub,
                    key,
                    [(m.model_dump_json().encode(), message_properties(m)) for m in messages],
                )
