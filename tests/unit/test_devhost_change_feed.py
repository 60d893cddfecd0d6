"""The local change feed of the orchestrator's container: domain events only, in append order,
each the stored document plus its `_lsn`, decoded by the azure-functions converter."""

from __future__ import annotations

import threading
from pathlib import Path

import azure.functions as func
import pytest

from adapters.sqlite import SqliteEventStore
from devhost import sources
from devhost.functions import Function
from devhost.invoker import Invoker
from devhost.leases import LeaseKeeper
from devhost.pump import Pump
from devhost.retry import RetryPolicy
from tests.support.builders import batch

pytestmark = pytest.mark.unit

TRIGGER = {
    "type": "cosmosDBTrigger",
    "name": "documents",
    "databaseName": "quoting",
    "containerName": "events",
    "leaseContainerPrefix": "orchestrator",
    "startFromBeginning": True,
}


def orchestrator() -> Function:
    return Function("orchestrate", "cosmosDBTrigger", TRIGGER, RetryPolicy(0), print, False)


def test_the_feed_delivers_domain_events_as_stored_with_their_lsn_and_not_saga_streams(
    tmp_path: Path,
) -> None:
    store = SqliteEventStore(tmp_path / "store.db")
    store.append("quote-Q1", 0, batch("quote-Q1", 0, 1), "cmd-1")
    store.append("saga-Q1", 0, batch("saga-Q1", 0, 2), "evt-1")
    store.append("quote-Q1", 1, batch("quote-Q1", 1, 1, tag="b"), "cmd-2")
    (source,) = sources.change_feed(orchestrator(), store)

    items = source.read(source.start)
    delivered = [item for item in items if source.delivers(item)]
    documents = source.payload(delivered)

    assert isinstance(documents, func.DocumentList)
    positions = [position for position, _ in store.read_feed()]
    expected = [
        {**envelope.to_document(), "_lsn": position}
        for position, (_, envelope) in zip(positions, store.read_all(), strict=True)
        if envelope.streamId.startswith("quote-")
    ]
    assert [document.to_dict() for document in documents] == expected
    assert [source.position(item) for item in items] == positions  # read past, in order
    assert [source.position(item) for item in delivered] == [d["_lsn"] for d in expected]
    assert [source.correlation(item) for item in delivered] == ["corr-1", "corr-1"]


def test_a_pump_moves_past_a_batch_with_nothing_to_deliver_without_invoking(
    tmp_path: Path,
) -> None:
    store = SqliteEventStore(tmp_path / "store.db")
    store.append("saga-Q1", 0, batch("saga-Q1", 0, 2), "evt-1")
    calls: list[object] = []
    function = Function(
        "orchestrate", "cosmosDBTrigger", TRIGGER, RetryPolicy(0), calls.append, False
    )
    keeper = LeaseKeeper(store.database, "host-1", [], 5.0)
    (source,) = sources.change_feed(function, store)
    stopping = threading.Event()
    pump = Pump(function, source, keeper, Invoker(store.database, stopping), store.database,
                stopping)  # fmt: skip
    keeper.names = [pump.lease]

    assert keeper.try_acquire(pump.lease)
    assert pump._step(pump.lease) is True

    assert calls == []
    assert keeper.checkpoint(pump.lease) == store.feed_position()
