"""Rules every EventStore adapter applies to a batch before writing it."""

from __future__ import annotations

from collections.abc import Sequence

from domain.messages import EventEnvelope, document_id


def check_batch(stream_id: str, expected_version: int, events: Sequence[EventEnvelope]) -> None:
    """A ValueError unless `events` are this stream's next events, numbered in order."""
    if not events:
        raise ValueError("an append needs at least one event")
    for offset, event in enumerate(events, start=1):
        if event.streamId != stream_id:
            raise ValueError(f"event {event.eventId} belongs to {event.streamId}, not {stream_id}")
        if event.sequenceNumber != expected_version + offset:
            raise ValueError(
                f"event {event.eventId} has sequence {event.sequenceNumber}, "
                f"expected {expected_version + offset}"
            )
        if event.id != document_id(stream_id, event.sequenceNumber):
            raise ValueError(f"event id {event.id!r} is not {stream_id}:<sequence>")
