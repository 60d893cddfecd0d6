"""What each pump reads: the change feed of the SQLite event store (for the Cosmos DB
trigger) and the partitions of the SQLite hub logs (for the Event Hubs triggers)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from adapters.sqlite import FeedRange, SqliteEventStore
from adapters.sqlite_database import FEED_TOPIC
from adapters.sqlite_log import HubMessage, SqliteHubLog, hub_topic
from devhost import payloads
from devhost.functions import Function
from devhost.pump import Source

MAX_ITEMS_PER_INVOCATION = 100  # the Cosmos DB trigger's maxItemsPerInvocation, set locally
_DECODER = json.JSONDecoder()
FEED_DOC_TYPE = "event"  # what the orchestrator's container holds (domain/messages.py DocType)


def change_feed(
    function: Function, store: SqliteEventStore, ranges: int = 1
) -> list[Source[tuple[int, str | None]]]:
    """The events container's feed, split into `ranges` ranges with a lease each (see
    adapters/sqlite.py FeedRange): one range keeps the lease name of a feed never split.
    Each range in append order: its domain events only. The saga's own
    streams share the local table but are not the orchestrator's input (in Azure they are
    kept out of the triggered container), so they come without their text and are passed
    over (the checkpoint moves past them) rather than delivered and skipped by the app. With
    no lease yet it starts from the beginning when the trigger says `startFromBeginning`,
    else after what is already there (as the Cosmos DB trigger does). Each document is its
    stored JSON text with `_lsn` spliced in: never parsed here; the converter parses it
    once, as the worker does."""
    trigger = function.trigger
    lease = (
        f"cosmosdb:{trigger['databaseName']}/{trigger['containerName']}"
        f":{trigger.get('leaseContainerPrefix') or ''}"
    )
    if ranges < 1:
        raise ValueError(f"the change feed needs at least one range, not {ranges}")
    if ranges == 1:
        return [_feed_range(function, store, lease, lease, None)]
    return [
        _feed_range(function, store, f"{lease}#{i}/{ranges}", lease, FeedRange(i, ranges))
        for i in range(ranges)
    ]


def range_of_lease(lease: str) -> FeedRange | None:
    """The feed range a change-feed lease name says (`...#index/count`), None if unsplit."""
    _, split, suffix = lease.rpartition("#")
    if not split:
        return None
    index, _, count = suffix.partition("/")
    return FeedRange(int(index), int(count))


def _feed_range(
    function: Function,
    store: SqliteEventStore,
    lease: str,
    group: str,
    feed_range: FeedRange | None,
) -> Source[tuple[int, str | None]]:
    trigger = function.trigger
    limit = int(trigger.get("maxItemsPerInvocation") or MAX_ITEMS_PER_INVOCATION)

    def read(after: int) -> Sequence[tuple[int, str | None]]:
        return [
            (position, None if text is None else _with_lsn(text, position))
            for position, text in store.read_feed_of(FEED_DOC_TYPE, after, limit, feed_range)
        ]

    return Source(
        lease=lease,
        group=group,
        topic=FEED_TOPIC,
        start=0 if trigger.get("startFromBeginning") else store.feed_position(),
        read=read,
        position=lambda item: item[0],
        payload=lambda items: payloads.decode(
            function.trigger_type,
            payloads.cosmos_document_texts([text for _, text in items if text is not None]),
        ),
        correlation=lambda item: _correlation(item[1] or ""),
        delivers=lambda item: item[1] is not None,
    )


def _with_lsn(text: str, position: int) -> str:
    """A stored document (a JSON object) with the feed's `_lsn` as its last property."""
    body = text.rstrip()
    if not body.endswith("}"):
        raise ValueError(f"feed position {position} holds no JSON object")
    return f'{body[:-1]}{"," if body[:-1].rstrip() != "{" else ""}"_lsn":{position}}}'


def _correlation(text: str) -> str:
    """The correlationId of a stored document, for the invocation's log line, read from the
    text without parsing the document: the envelope's own field comes before `data`
    (EventEnvelope's field order), so its first occurrence is the one."""
    key = '"correlationId":'
    start = text.find(key)
    if start < 0:
        return ""
    try:
        value, _ = _DECODER.raw_decode(text, start + len(key) + (text[start + len(key)] == " "))
    except (ValueError, IndexError):
        return ""
    return value if isinstance(value, str) else ""


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
            group=f"eventhub:{hub}/{group}",
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
