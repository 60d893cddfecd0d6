"""How a saga event stores the commands it issued: only what the event and its envelope do not
already say (`lean`, by codec.encode), each command whole again on read (`whole`, by
codec.decode). Publishing, first and on a redelivery, reads the stored event back, so what is
published is the whole command: the same ids and fields as domain/saga_builder.py built.
"""

from __future__ import annotations

from typing import Any

from domain import registry
from domain.ids import uuid5
from domain.saga_events import SAGA_NAMESPACE

Data = dict[str, Any]
_NEVER = object()  # no stored value equals it: a field without a derived value is kept
# Every command's version when commands began to be stored lean: a constant, not the envelope's
# default, so a later default cannot change what an older lean command reads as (a command of
# another version differs from it, so it is stored).
_SCHEMA_VERSION = 1


def command_id_for(input_id: str, command_type: str) -> str:
    """The id of the command an input issues: its id and the command's registered name, so a
    redelivered input issues the very same command."""
    return uuid5(SAGA_NAMESPACE, f"{input_id}:{command_type}")


def _derived(event: Data, command_type: str, data: Data, traceparent: object) -> Data:
    """The envelope of a command the event's own input issued, as saga_builder._envelope builds
    it: addressed to its data's target field, correlated to the quote, caused by the input, with
    the input's trace. Its type and issuedAt (the input's time) are not in the event: kept."""
    target = registry.BY_CATEGORY[registry.command_category(command_type)].target_field
    return {
        "commandId": command_id_for(event["triggerId"], command_type),
        "aggregateId": data.get(target),
        "correlationId": event["quoteId"],
        "causationId": event["triggerId"],
        "schemaVersion": _SCHEMA_VERSION,
        "traceparent": traceparent,
    }


def lean(event: Data) -> Data:
    """A saga event's JSON data with each command as stored: its type, its issuedAt, the data
    fields the event does not hold with the same value, and every field that differs from the
    derived one (a retry re-sends an earlier input's command: its id, cause and trace stay)."""
    return {**event, "commands": [_lean(event, c) for c in event["commands"]]}


def _lean(event: Data, command: Data) -> Data:
    name, data = command["commandType"], command["data"]
    # A command of the event's own input carries that input's trace, as the saga event's
    # envelope does (application/saga_step.py), so `whole` takes it from the envelope.
    own = command["causationId"] == event["triggerId"]
    derived = _derived(event, name, data, command["traceparent"] if own else _NEVER)
    kept = {k: v for k, v in command.items() if k not in derived or derived[k] != v}
    return {**kept, "data": {k: v for k, v in data.items() if not _said(event, k, v)}}


def _said(event: Data, key: str, value: object) -> bool:
    return value is not None and event.get(key) == value


def whole(event: Data, traceparent: str | None) -> Data:
    """A stored saga event's data with every command whole, `traceparent` being its envelope's.
    A command stored whole (before commands were lean) has every field: nothing is derived."""
    commands = event.get("commands")
    if not commands:
        return event
    return {**event, "commands": [_whole(event, c, traceparent) for c in commands]}


def _whole(event: Data, stored: Data, traceparent: str | None) -> Data:
    name = stored["commandType"]
    data = _data(event, name, stored["data"])
    return {**_derived(event, name, data, traceparent), **stored, "data": data}


def _data(event: Data, command_type: str, stored: Data) -> Data:
    """A command's data with the fields the event held put back, in the command's own order
    (a command's data always has every field of its type: registry.make_command dumps them)."""
    fields = registry.COMMAND_TYPES[command_type][1].model_fields
    said = [k for k in fields if k not in stored and event.get(k) is not None]
    if not said:
        return stored
    return {
        **{k: stored[k] if k in stored else event[k] for k in fields if k in stored or k in said},
        **stored,
    }
