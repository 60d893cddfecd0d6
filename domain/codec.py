"""Stored event types by name and schema version, and the upcaster chain applied on read.

Example of a real schema change: `QuoteCreated` v1 stored `{"quote", "customer", "amount"}`;
v2 renamed them to the seed's JSON names. v1 documents are upcast, never rewritten. Premiums were
JSON numbers until money became Decimal (QuoteCreated v3, QuoteApproved/PolicyCreated/SagaStarted
v2), and are JSON strings since. Saga events store their commands lean since SagaStarted v3 and
the other saga events' v2 (domain/saga_commands.py); older ones hold them whole.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from domain import messages as m
from domain import registry, saga_commands
from domain import saga_events as saga
from domain.errors import Unprocessable
from domain.money import as_text, from_float

Data = dict[str, Any]
StoredEvent = registry.DomainEvent | saga.SagaEvent

# The aggregates' events come from the registry; the saga's are listed here.
EVENT_TYPES: dict[str, tuple[type[m.Message], int]] = {
    **registry.EVENT_TYPES,
    "SagaStarted": (saga.SagaStarted, 3),
    "SagaAdvanced": (saga.SagaAdvanced, 2),
    "SagaCompleted": (saga.SagaCompleted, 2),
    "SagaCompensationStarted": (saga.SagaCompensationStarted, 2),
    "SagaCompensationRetried": (saga.SagaCompensationRetried, 2),
    "SagaCompensated": (saga.SagaCompensated, 2),
    "SagaLateEventCompensated": (saga.SagaLateEventCompensated, 2),
    "SagaCancelled": (saga.SagaCancelled, 2),
}
_NAMES = {cls: name for name, (cls, _) in EVENT_TYPES.items()}


def _quote_created_v1_to_v2(data: Data) -> Data:
    return {"quoteId": data["quote"], "customerId": data["customer"], "premium": data["amount"]}


def _premium_as_text(data: Data) -> Data:
    """A premium stored as a JSON number becomes the decimal string of the number as written
    (10.0 -> "10.0", 0.1 -> "0.1", 1e-07 -> "0.0000001"); anything else is left for the event's
    validation to refuse (a missing one included: it names every missing field)."""
    value = data.get("premium")
    if type(value) is float:
        return {**data, "premium": as_text(from_float(value))}
    if type(value) is int:  # a JSON number without a point ("premium": 100); not a bool
        return {**data, "premium": str(value)}
    return data


def _commands_whole(data: Data) -> Data:
    """Commands stored whole read as they are: saga_commands.whole derives no field of one."""
    return data


# (eventType, from_version) -> function giving the data of from_version + 1
UPCASTERS: dict[tuple[str, int], Callable[[Data], Data]] = {
    ("QuoteCreated", 1): _quote_created_v1_to_v2,
    ("QuoteCreated", 2): _premium_as_text,
    ("QuoteApproved", 1): _premium_as_text,
    ("PolicyCreated", 1): _premium_as_text,
    ("SagaStarted", 1): _premium_as_text,
    ("SagaStarted", 2): _commands_whole,
    ("SagaAdvanced", 1): _commands_whole,
    ("SagaCompleted", 1): _commands_whole,
    ("SagaCompensationStarted", 1): _commands_whole,
    ("SagaCompensationRetried", 1): _commands_whole,
    ("SagaCompensated", 1): _commands_whole,
    ("SagaLateEventCompensated", 1): _commands_whole,
    ("SagaCancelled", 1): _commands_whole,
}


class UnknownEventType(Unprocessable):
    """A stored type this code does not know: never retried, dead-lettered."""


def event_name(event: m.Message) -> str:
    """The registered (stored) name of an event, its eventType: never its class name."""
    return _NAMES[type(event)]


def encode(event: m.Message) -> tuple[str, int, Data]:
    """(eventType, schemaVersion, data) of an event as it is stored today."""
    name = event_name(event)
    data = event.model_dump(mode="json")
    if isinstance(event, saga.SagaEventBase):
        data = saga_commands.lean(data)
    return name, EVENT_TYPES[name][1], data


def upcast(event_type: str, version: int, data: Data) -> Data:
    """Raise stored data of an old schema version to the current one, step by step."""
    if event_type not in EVENT_TYPES:
        raise UnknownEventType(f"unknown event type {event_type!r}")
    current = EVENT_TYPES[event_type][1]
    if version > current:
        raise UnknownEventType(f"{event_type} v{version} is newer than this code (v{current})")
    while version < current:
        try:
            data = UPCASTERS[(event_type, version)](data)
        except KeyError as error:  # an old document without a field its upcaster needs
            raise Unprocessable(f"{event_type} v{version} lacks {error}") from error
        version += 1
    return data


def decode(envelope: m.EventEnvelope) -> StoredEvent:
    """The typed event of a stored envelope, upcast to the current schema."""
    data = upcast(envelope.eventType, envelope.schemaVersion, envelope.data)
    cls = EVENT_TYPES[envelope.eventType][0]
    try:
        if issubclass(cls, saga.SagaEventBase):
            data = saga_commands.whole(data, envelope.traceparent)
        event: StoredEvent = cls.model_validate(data)  # type: ignore[assignment]
    except ValidationError as error:
        raise Unprocessable(f"{envelope.eventType} {envelope.eventId}: {error}") from error
    except (KeyError, ValueError, TypeError, AttributeError) as error:  # commands of no shape
        raise Unprocessable(f"{envelope.eventType} {envelope.eventId}: {error!r}") from error
    return event


def read_event(document: Mapping[str, Any]) -> m.EventEnvelope:
    """The envelope of a stored document (a change-feed entry); Unprocessable if it is none."""
    try:
        return m.EventEnvelope.model_validate(document)
    except ValidationError as error:
        raise Unprocessable(f"not a stored event: {error}") from error


def parse_event(text: str) -> m.EventEnvelope:
    """`read_event` of a document's JSON text (a parked event's payload)."""
    try:
        return m.EventEnvelope.model_validate_json(text)
    except ValidationError as error:
        raise Unprocessable(f"not a stored event: {error}") from error
