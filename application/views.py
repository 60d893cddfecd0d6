"""The quote read model: one document per quote with its saga's status and timeline.

Pure functions over plain dicts (the stored JSON), applied by the orchestrator; every apply is
idempotent (timeline entries are keyed by event id) and order-insensitive across streams.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain import messages as m
from domain.saga import TERMINAL, SagaState

View = dict[str, Any]


def empty_view(quote_id: str) -> View:
    return {"id": quote_id, "docType": "quote-view", "quote": None, "saga": None, "timeline": []}


def apply_event(view: View, envelope: m.EventEnvelope, event: object) -> View:
    """Fold one stored event (domain or saga) of this quote into its view."""
    view = {**view, "timeline": _with_entry(view["timeline"], envelope)}
    quote = dict(view["quote"] or {"quoteId": envelope.correlationId, "policyId": None})
    match event:
        case m.QuoteCreated():
            quote |= {"customerId": event.customerId, "premium": event.premium}
            quote.setdefault("status", "Created")
        case m.QuoteApproved():
            if quote.get("status") != "Rejected":
                quote["status"] = "Approved"
        case m.QuoteRejected():
            quote |= {"status": "Rejected", "rejectionReason": event.reason}
        case m.PolicyCreated():
            quote["policyId"] = event.policyId
        case _:
            return view
    return {**view, "quote": quote}


def apply_saga(view: View, state: SagaState, version: int) -> View:
    """Record the saga's state as of `version` of its stream, never going backwards."""
    if state.status is None or (view["saga"] or {}).get("version", 0) >= version:
        return view
    saga = {
        "status": state.status.value,
        "step": state.step,
        "deadline": state.deadline.isoformat() if state.deadline else None,
        "policyId": state.policyId,
        "version": version,
    }
    return {**view, "saga": saga}


def is_due(view: View, now: datetime) -> bool:
    """A saga still waiting on a step whose deadline has passed."""
    saga = view.get("saga")
    if not saga or saga["deadline"] is None or saga["status"] in {s.value for s in TERMINAL}:
        return False
    return datetime.fromisoformat(saga["deadline"]) <= now


def _with_entry(timeline: list[dict[str, Any]], e: m.EventEnvelope) -> list[dict[str, Any]]:
    if any(entry["eventId"] == e.eventId for entry in timeline):
        return timeline
    entry = {
        "eventId": e.eventId,
        "eventType": e.eventType,
        "streamId": e.streamId,
        "sequenceNumber": e.sequenceNumber,
        "timestamp": e.timestamp.isoformat(),
        "reason": e.data.get("reason"),
    }
    return sorted(
        [*timeline, entry], key=lambda x: (x["timestamp"], x["streamId"], x["sequenceNumber"])
    )
