"""What each pump reads: the change feed of the SQLite event store (for the Cosmos DB
trigger) and the partitions of the SQLite hub logs (for the Event Hubs triggers)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import azure.functions as func

from adapters.sqlite import SqliteEventStore
from adapters.sqlite_database import FEED_TOPIC
from adapters.sqlite_log import HubMessage, SqliteHubLog, hub_topic
from devhost.functions import Function
from devhost.pump import Source

MAX_ITEMS_PER_INVOCATION = 100  # the Cosmos DB trigger's maxItemsPerInvocation, set locally


def change_feed(function: Function, store: SqliteEventStore) -> Source[tuple[int, Any]]:
    """The events container's feed in append order, from the start when no lease exists yet
    (as if the lease container had been created before the first event)."""
    trigger = function.trigger
    lease = (
        f"cosmosdb:{trigger['databaseName']}/{trigger['containerName']}"
        f":{trigger.get('leaseContainerPrefix') or ''}"
    )
    limit = int(trigger.get("maxItemsPerInvocation") or MAX_ITEMS_PER_INVOCATION)

    def read(after: int) -> Sequence[tuple[int, Any]]:
        documents = []
        for position, text in store.read_feed(after, limit):
            document = func.Document.from_json(text)
            document["_lsn"] = position
            documents.append((position, document))
        return documents

    return Source(
        lease=lease,
        topic=FEED_TOPIC,
        start=0,
        read=read,
        position=lambda item: item[0],
        payload=lambda items: func.DocumentList([document for _, document in items]),
        correlation=lambda item: str(item[1].get("correlationId") or ""),
    )


def hub_partitions(
    function: Function, log: SqliteHubLog, max_batch: int
) -> list[Source[HubMessage]]:
    """One source per partition of the function's hub, for its consumer group."""
    trigger = function.trigger
    hub, group = trigger["eventHubName"], trigger.get("consumerGroup") or "$Default"
    many = str(trigger.get("cardinality", "ONE")).upper() == "MANY"
    limit = max_batch if many else 1

    def source(partition: int) -> Source[HubMessage]:
        return Source(
            lease=f"eventhub:{hub}/{group}:{partition}",
            topic=hub_topic(hub, partition),
            start=-1,
            read=lambda after: log.read(hub, partition, after, limit),
            position=lambda message: message.sequence_number,
            payload=lambda messages: [_event(m) for m in messages] if many else _event(messages[0]),
            correlation=lambda message: str(message.properties.get("correlationId") or ""),
        )

    return [source(partition) for partition in range(log.partitions)]


def _event(message: HubMessage) -> func.EventHubEvent:
    return func.EventHubEvent(
        body=message.body,
        enqueued_time=message.enqueued_time,
        partition_key=message.partition_key,
        sequence_number=message.sequence_number,
        offset=str(message.offset),
    )


def max_event_batch_size(app_dir: Any) -> int:
    """host.json extensions.eventHubs.maxEventBatchSize, else the default of 100."""
    path = app_dir / "host.json"
    if not path.exists():
        return 100
    hub_settings = json.loads(path.read_text()).get("extensions", {}).get("eventHubs", {})
    return int(hub_settings.get("maxEventBatchSize", 100))
