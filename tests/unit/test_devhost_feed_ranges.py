"""The local change feed split into ranges (adapters/sqlite.py FeedRange), each with its own
lease: every document in exactly one range, a correlation id's documents all in the same one
and in append order, a file from before the ranges read the same, and hosts that share the
leases take an even share of each function's ranges."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from adapters.sqlite import FEED_BUCKETS, FeedRange, SqliteEventStore, feed_bucket
from adapters.sqlite_database import SqliteDatabase
from devhost import sources
from devhost.leases import LeaseKeeper
from tests.support.builders import batch, event
from tests.unit.test_devhost_change_feed import orchestrator

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7])
def test_the_ranges_of_a_split_cover_every_bucket_once(count: int) -> None:
    spans = [FeedRange(i, count).buckets for i in range(count)]
    assert spans[0][0] == 0
    assert spans[-1][1] == FEED_BUCKETS - 1
    assert all(spans[i][1] + 1 == spans[i + 1][0] for i in range(count - 1))


def append_sagas(store: SqliteEventStore, quotes: int) -> None:
    for n in range(quotes):
        for stream in (f"quote-Q{n}", f"policy-P{n}"):
            events = [e.model_copy(update={"correlationId": f"Q{n}"}) for e in batch(stream, 0, 2)]
            store.append(stream, 0, events, f"cmd-{stream}")


def delivered(source: sources.Source[tuple[int, str | None]]) -> list[tuple[int, str]]:
    """(position, correlation id) of what the range delivers, from the start."""
    return [
        (position, json.loads(text)["correlationId"])
        for position, text in source.read(0)
        if text is not None
    ]


def test_a_feed_in_two_ranges_delivers_each_document_once_and_a_sagas_in_one_range_in_order(
    tmp_path: Path,
) -> None:
    store = SqliteEventStore(tmp_path / "store.db")
    append_sagas(store, 40)
    ranges = sources.change_feed(orchestrator(), store, 2)
    assert [r.lease for r in ranges] == [
        "cosmosdb:quoting/events:orchestrator#0/2",
        "cosmosdb:quoting/events:orchestrator#1/2",
    ]
    assert {r.group for r in ranges} == {"cosmosdb:quoting/events:orchestrator"}
    seen = [delivered(r) for r in ranges]
    positions = sorted(p for got in seen for p, _ in got)
    assert positions == [p for p, _ in store.read_feed(0)]  # each once, none left out
    assert all(got == sorted(got) for got in seen)  # each range in append order
    quotes = [{q for _, q in got} for got in seen]
    assert quotes[0]
    assert quotes[1]
    assert not quotes[0] & quotes[1]  # a saga's documents are all in one range


def test_a_feed_never_split_keeps_its_lease_name_and_delivers_everything(tmp_path: Path) -> None:
    store = SqliteEventStore(tmp_path / "store.db")
    append_sagas(store, 5)
    (whole,) = sources.change_feed(orchestrator(), store)
    assert whole.lease == "cosmosdb:quoting/events:orchestrator"
    assert len(delivered(whole)) == 20
    with pytest.raises(ValueError, match="at least one range"):
        sources.change_feed(orchestrator(), store, 0)


def test_a_file_from_before_the_ranges_gets_each_documents_bucket_from_its_correlation_id(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.db"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE events (position INTEGER PRIMARY KEY AUTOINCREMENT, stream_id TEXT NOT"
        " NULL, sequence_number INTEGER NOT NULL, event_id TEXT NOT NULL, event_type TEXT NOT"
        " NULL, document TEXT NOT NULL, UNIQUE (stream_id, sequence_number))"
    )
    for n in range(1, 9):
        e = event("quote-Q1", n, correlation_id=f"Q{n}")
        old.execute(
            "INSERT INTO events (stream_id, sequence_number, event_id, event_type, document)"
            " VALUES (?, ?, ?, ?, ?)",
            ("quote-Q1", n, e.eventId, e.eventType, json.dumps(e.to_document())),
        )
    old.commit()
    old.close()
    store = SqliteEventStore(path)
    buckets = dict(store.database.connection().execute("SELECT position, feed_bucket FROM events"))
    assert buckets == {n: feed_bucket(f"Q{n}") for n in range(1, 9)}
    assert len(set(buckets.values())) > 1
    SqliteEventStore(path)  # opening it again changes nothing


def test_two_hosts_take_an_even_share_of_each_group_of_leases(tmp_path: Path) -> None:
    database = SqliteDatabase(tmp_path / "store.db")
    names = ["feed#0/2", "feed#1/2", "hub:0", "hub:1", "hub:2", "hub:3", "timer"]
    groups = {n: n.partition("#")[0].partition(":")[0] for n in names}

    def host(owner: str) -> LeaseKeeper:
        keeper = LeaseKeeper(database, owner, names, 5)
        keeper.groups = groups
        return keeper

    first, second = host("one"), host("two")
    first.heartbeat()
    second.heartbeat()
    first.heartbeat()  # both know there are two hosts
    took = {k.owner: [n for n in names if k.try_acquire(n)] for k in (first, second)}
    assert took == {
        "one": ["feed#0/2", "hub:0", "hub:1", "timer"],
        "two": ["feed#1/2", "hub:2", "hub:3"],
    }


def test_a_ranges_backlog_counts_its_own_documents_after_its_checkpoint(tmp_path: Path) -> None:
    from devhost.status import backlog

    store = SqliteEventStore(tmp_path / "store.db")
    append_sagas(store, 40)
    ranges = sources.change_feed(orchestrator(), store, 2)
    keeper = LeaseKeeper(store.database, "one", [r.lease for r in ranges], 5)
    assert all(keeper.try_acquire(r.lease) for r in ranges)
    first, second = ranges
    first_positions = [p for p, _ in delivered(first)]
    keeper.save_checkpoint(first.lease, first_positions[-1])  # all of the first range
    keeper.save_checkpoint(second.lease, 0)
    pending = backlog(store.database, [])
    assert pending == {first.lease: 0, second.lease: 160 - len(first_positions)}
