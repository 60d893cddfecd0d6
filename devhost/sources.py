"""What each pump reads: the change feed of the SQLite event store (for the Cosmos DB
trigger) and the partitions of the SQLite hub logs (for the Event Hubs triggers)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from adapters.sqlite import SqliteEventStore
from adapters.sqlite_database import FEED_TOPIC
from adapters.sqlite_log import HubMessage, SqliteHubLog, hub_topic
from devhost import payloads
from devhost.functions import Function
from devhost.pump import Source

MAX_ITEMS_PER_INVOCATION = 100  # the Cosmos DB trigger's maxItemsPerInvocation, set locally


def change_feed(function: Function, store: SqliteEventStore) -> Source[tuple[int, Any]]:
    """The events container's feed in append order. With no lease yet it starts from the
    beginning when the trigger says `startFromBeginning`, else after what is already there
    (as the Cosmos DB trigger does)."""
    trigger = function.trigger
    lease = (
        f"cosmosdb:{trigger['databaseName']}/{trigger['containerName']}"
        f":{trigger.get('leaseContainerPrefix') or ''}"
    )
    limit = int(trigger.get("maxItemsPerInvocation") or MAX_ITEMS_PER_INVOCATION)

    def read(after: int) -> Sequence[tuple[int, Any]]:
        documents = []
        for position, text in store.read_feed(after, limit):
            document = json.loads(text)
            document["_lsn"] = position
            documents.append((position, document))
        return documents

    return Source(
        lease=lease,
        topic=FEED_TOPIC,
        start=0 if trigger.get("startFromBeginning") else store.feed_position(),
        read=read,
        position=lambda item: item[0],
        payload=lambda items: payloads.decode(
            function.trigger_type, payloads.cosmos_documents([document for _, document in items])
        ),
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
        def payload(messages: Sequence[HubMessage]) -> object:
            events = [_event(m) for m in messages]
            host_data = (
                payloads.event_hub_batch(events, hub, group, str(partition))
                if many
                else payloads.event_hub_event(events[0], hub, group, str(partition))
            )
            return payloads.decode(function.trigger_type, host_data)

        return Source(
            lease=f"eventhub:{hub}/{group}:{partition}",
            topic=hub_topic(hub, partition),
            start=-1,
            read=lambda after: log.read(hub, partition, after, limit),
            position=lambda message: message.sequence_number,
            payload=payload,
            correlation=lambda message: str(message.properties.get("correlationId") or ""),
        )

    return [source(partition) for partition in range(log.partitions)]


def _event(message: HubMessage) -> payloads.HubEvent:
    return payloads.HubEvent(
        body=message.body,
        partition_key=message.partition_key,
        sequence_number=message.sequence_number,
        offset=message.offset,
        enqueued_time=message.enqueued_time,
        properties=message.properties,
    )


def max_event_batch_size(app_dir: Any) -> int:
    """host.json extensions.eventHubs.maxEventBatchSize, else the default of 100."""
    path = app_dir / "host.json"
    if not path.exists():
        return 100
    hub_settings = json.loads(path.read_text()).get("extensions", {}).get("eventHubs", {})
    return int(hub_settings.get("maxEventBatchSize", 100))
