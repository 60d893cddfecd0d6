"""How far behind the triggers are: for every lease with a checkpoint, what is still to be
delivered. Zero everywhere means quiet (nothing in flight between the triggers)."""

from __future__ import annotations

from adapters.sqlite_database import SqliteDatabase
from devhost.sources import range_of_lease


def backlog(database: SqliteDatabase, hubs: list[tuple[str, str]]) -> dict[str, int]:
    """Items after each checkpoint: the change feed's lease(s), and every partition of the
    consumed `hubs` ((hub, consumer group) pairs), counting partitions never read too."""
    conn = database.connection()
    result: dict[str, int] = {}
    (last_position,) = conn.execute("SELECT COALESCE(MAX(position), 0) FROM events").fetchone()
    for name, checkpoint in conn.execute(
        "SELECT name, checkpoint FROM devhost_leases WHERE name LIKE 'cosmosdb:%'"
    ).fetchall():
        feed_range = range_of_lease(name)
        if feed_range is None:
            result[name] = last_position - (checkpoint or 0)
            continue
        low, high = feed_range.buckets  # a range's checkpoint moves past its own documents only
        (result[name],) = conn.execute(
            "SELECT COUNT(*) FROM events WHERE position > ? AND feed_bucket BETWEEN ? AND ?",
            (checkpoint or 0, low, high),
        ).fetchone()
    checkpoints = dict(
        conn.execute("SELECT name, checkpoint FROM devhost_leases WHERE name LIKE 'eventhub:%'")
    )
    for hub, group in hubs:
        for partition, last in conn.execute(
            "SELECT partition, MAX(sequence_number) FROM hub_messages WHERE hub = ?"
            " GROUP BY partition",
            (hub,),
        ):
            name = f"eventhub:{hub}/{group}:{partition}"
            checkpoint = checkpoints.get(name)
            result[name] = last - (-1 if checkpoint is None else checkpoint)
    return result
