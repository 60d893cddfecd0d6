"""Trigger arguments the way the worker makes them: the data the Functions host sends (a
`Datum` and its trigger metadata, shaped as the host's extensions send them) decoded by the
azure-functions library's own converter for the binding type. Nothing here builds a `func.*`
object itself, so the library's checks and conversions run as they do in Azure.

Shapes, from the platform's own code: Event Hubs binding data from the WebJobs extension's
`EventHubTriggerBindingStrategy` (PartitionContext, *Array fields, SystemPropertiesArray
with SequenceNumber/Offset/PartitionKey/EnqueuedTimeUtc); a batch as `collection_bytes` and
metadata as json, as in the worker's tests (tests/unittests/test_mock_eventhub_functions.py);
a change-feed batch as one json array; a timer as the JSON of the host's TimerInfo.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import azure.functions as func
from azure.functions.meta import Datum


@dataclass(frozen=True)
class HostData:
    """What the host sends for one invocation's trigger: the data and its metadata."""

    data: Datum
    metadata: dict[str, Datum]


@dataclass(frozen=True)
class HubEvent:
    """One event as the Event Hubs extension reads it from a partition."""

    body: bytes
    partition_key: str
    sequence_number: int
    offset: int
    enqueued_time: datetime
    properties: Mapping[str, Any]


class CollectionBytes:
    """The `collection_bytes` member of the host's TypedData: a list under `.bytes`."""

    def __init__(self, items: Sequence[bytes]) -> None:
        self.bytes = list(items)


def decode(binding_type: str, host_data: HostData) -> object:
    """The function's argument, as the worker decodes it: the converter registered for the
    binding type in azure-functions' binding registry."""
    converter = func.get_binding_registry().get(binding_type)  # type: ignore[attr-defined]
    if converter is None:
        raise LookupError(f"azure-functions has no converter for {binding_type!r}")
    return converter.decode(host_data.data, trigger_metadata=host_data.metadata)


def _json(value: object) -> Datum:
    return Datum(json.dumps(value), "json")


def _dotnet_time(moment: datetime) -> str:
    """A UTC time as the host's JSON serialiser writes a DateTime (seven fractional digits)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def cosmos_documents(documents: Sequence[Mapping[str, Any]]) -> HostData:
    """A change-feed batch: the documents as one JSON array."""
    return HostData(_json(list(documents)), {})


def cosmos_document_texts(documents: Sequence[str]) -> HostData:
    """A change-feed batch from documents already in JSON text: spliced into one array."""
    return HostData(Datum(f"[{','.join(documents)}]", "json"), {})


def event_hub_batch(
    events: Sequence[HubEvent],
    hub: str,
    consumer_group: str,
    partition_id: str,
    namespace: str = "localhost",
) -> HostData:
    """A batch for `cardinality=MANY`: bodies as collection_bytes, the binding data per event
    in *Array fields and the partition's context."""
    system = [
        {
            "x-opt-sequence-number": e.sequence_number,
            "x-opt-offset": str(e.offset),
            "x-opt-enqueued-time": _dotnet_time(e.enqueued_time),
            "x-opt-partition-key": e.partition_key,
            "SequenceNumber": e.sequence_number,
            "Offset": e.offset,
            "OffsetString": str(e.offset),
            "PartitionKey": e.partition_key,
            "EnqueuedTimeUtc": _dotnet_time(e.enqueued_time),
        }
        for e in events
    ]
    metadata = {
        "PartitionContext": _json(
            {
                "FullyQualifiedNamespace": namespace,
                "EventHubName": hub,
                "ConsumerGroup": consumer_group,
                "PartitionId": partition_id,
            }
        ),
        "PartitionKeyArray": _json([e.partition_key for e in events]),
        "OffsetArray": _json([str(e.offset) for e in events]),
        "SequenceNumberArray": _json([e.sequence_number for e in events]),
        "EnqueuedTimeUtcArray": _json([_dotnet_time(e.enqueued_time) for e in events]),
        "PropertiesArray": _json([dict(e.properties) for e in events]),
        "SystemPropertiesArray": _json(system),
    }
    return HostData(Datum(CollectionBytes([e.body for e in events]), "collection_bytes"), metadata)


def event_hub_event(event: HubEvent, hub: str, consumer_group: str, partition_id: str) -> HostData:
    """One event for `cardinality=ONE`: the body as bytes, the binding data unsuffixed."""
    batch = event_hub_batch([event], hub, consumer_group, partition_id).metadata
    system = json.loads(batch["SystemPropertiesArray"].value)[0]
    metadata = {
        "PartitionContext": batch["PartitionContext"],
        "PartitionKey": _json(event.partition_key),
        "Offset": _json(str(event.offset)),
        "SequenceNumber": _json(event.sequence_number),
        "EnqueuedTimeUtc": _json(system["EnqueuedTimeUtc"]),
        "Properties": _json(dict(event.properties)),
        "SystemProperties": _json(system),
    }
    return HostData(Datum(event.body, "bytes"), metadata)


def timer(past_due: bool, last: datetime, next_due: datetime, updated: datetime) -> HostData:
    """A timer occurrence: the host's TimerInfo as JSON (schedule status with Last, Next and
    LastUpdated when the schedule monitor is on)."""
    info = {
        "Schedule": {"AdjustForDST": True},
        "ScheduleStatus": {
            "Last": last.isoformat(),
            "Next": next_due.isoformat(),
            "LastUpdated": updated.isoformat(),
        },
        "IsPastDue": past_due,
    }
    return HostData(_json(info), {})
