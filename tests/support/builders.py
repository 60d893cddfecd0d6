"""Builders of stored events for tests: valid envelopes with predictable ids."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from domain.messages import EventEnvelope, document_id

AT = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)


def event(
    stream_id: str,
    sequence: int,
    *,
    tag: str = "",
    event_type: str = "QuoteApproved",
    data: dict[str, Any] | None = None,
    at: datetime = AT,
    correlation_id: str = "corr-1",
    traceparent: str | None = None,
) -> EventEnvelope:
    """Event number `sequence` of a stream; `tag` tells apart rival writers of one sequence."""
    suffix = f"-{tag}" if tag else ""
    return EventEnvelope(
        id=document_id(stream_id, sequence),
        streamId=stream_id,
        sequenceNumber=sequence,
        eventId=f"evt-{stream_id}-{sequence}{suffix}",
        eventType=event_type,
        schemaVersion=1,
        timestamp=at,
        correlationId=correlation_id,
        causationId=f"cause-{stream_id}-{sequence}{suffix}",
        traceparent=traceparent,
        data=data if data is not None else {"sequence": sequence, "tag": tag},
    )


def batch(stream_id: str, after: int, count: int, *, tag: str = "") -> list[EventEnvelope]:
    """The `count` events that follow version `after` of a stream."""
    return [event(stream_id, after + n, tag=tag) for n in range(1, count + 1)]
