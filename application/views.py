"""The quote read model: one document per quote with its saga's status and timeline.

Pure functions over plain dicts (the stored JSON), applied by the orchestrator; every apply is
idempotent (timeline entries are keyed by event id) and order-insensitive across streams. The
query rules every view store implements (`matches`, `sort_key`) are defined here too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from application.ports import PageKey, ViewQuery
from domain import messages as m
from domain.money import as_text
from domain.saga import TERMINAL, SagaStarted, SagaState

View = dict[str, Any]


def empty_view(quote_id: str) -> View:
    return {"id": quote_id, "docType": "quote-view", "quote": None, "saga": None, "timeline": []}


def apply_event(view: View, envelope: m.EventEnvelope, event: object) -> View:
    """Fold one stored event (domain or saga) of this quote into its view."""
    view = {**view, "timeline": _with_entry(view["timeline"], envelope)}
    quote = dict(view["quote"] or {"quoteId": envelope.correlationId, "policyId": None})
    match event:
        case m.QuoteCreated():
            quote |= {"customerId": event.customerId, "premium": as_text(event.premium)}
            quote.setdefault("status", "Created")
            view["customerId"] = event.customerId
        case m.QuoteApproved():
            if quote.get("status") != "Rejected":
                quote["status"] = "Approved"
            view["customerId"] = event.customerId
        case SagaStarted():
            return {**view, "customerId": event.customerId}
        case m.QuoteRejected():
            quote |= {"status": "Rejected", "rejectionReason": event.reason}
        case m.PolicyCreated():
            quote["policyId"] = event.policyId
        case _:
            return view
    return {**view, "quote": quote}


def apply_saga(view: View, state: SagaState, version: int) -> View:
    """Record the saga's state as of `version` of its stream, never going backwards, with
    when it started, when it last changed and its last reason, as its timeline tells them
    (derived again on every apply: an older saga event may join the timeline late)."""
    saga = view["saga"]
    if state.status is not None and (saga or {}).get("version", 0) < version:
        saga = {
            "status": state.status.value,
            "step": state.step,
            "deadline": state.deadline.isoformat() if state.deadline else None,
            "policyId": state.policyId,
            "version": version,
        }
    if saga is None:
        return view
    kept = {k: v for k, v in saga.items() if k not in _STORY}
    saga = kept | _story(view["timeline"], m.stream_id("saga", view["id"]), saga["version"])
    return view if saga == view["saga"] else {**view, "saga": saga}


_STORY = ("startedAt", "updatedAt", "reason")


def _story(timeline: list[dict[str, Any]], stream: str, version: int) -> dict[str, str]:
    """startedAt, updatedAt and reason of the saga's own entries up to `version`; a field
    stays out while the timeline cannot tell it (a view's missing field means unknown)."""
    entries = sorted(
        (e for e in timeline if e["streamId"] == stream and e["sequenceNumber"] <= version),
        key=lambda e: int(e["sequenceNumber"]),
    )
    story: dict[str, str] = {}
    for entry in entries:
        if entry["eventType"] == "SagaStarted":
            story["startedAt"] = utc_text(datetime.fromisoformat(entry["timestamp"]))
        story["updatedAt"] = utc_text(datetime.fromisoformat(entry["timestamp"]))
        if entry.get("reason"):
            story["reason"] = entry["reason"]
    return story


def utc_text(moment: datetime) -> str:
    """ISO 8601 in UTC with microseconds, one fixed width: such texts sort as their times do,
    so every store compares and orders them as plain strings. Naive times count as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def is_due(view: View, now: datetime) -> bool:
    """A saga still waiting on a step whose deadline has passed."""
    saga = view.get("saga")
    if not saga or saga["deadline"] is None or saga["status"] in {s.value for s in TERMINAL}:
        return False
    return datetime.fromisoformat(saga["deadline"]) <= now


def is_stuck(view: View, now: datetime) -> bool:
    """A saga still waiting on a step whose deadline is past (strictly before `now`)."""
    saga = view.get("saga")
    if not saga or saga["deadline"] is None or saga["status"] in {s.value for s in TERMINAL}:
        return False
    return datetime.fromisoformat(saga["deadline"]) < now


def matches(view: View, query: ViewQuery) -> bool:
    """Whether `query` selects `view` (its paging aside): the rule every ViewStore.query
    implements. A view without a startedAt (written before it was recorded) matches no
    date range."""
    saga = view.get("saga") or {}
    started = saga.get("startedAt")
    return (
        (bool(saga) or not query.with_saga)
        and (query.status is None or saga.get("status") == query.status)
        and (query.stuck_at is None or is_stuck(view, query.stuck_at))
        and (query.customer_id is None or view.get("customerId") == query.customer_id)
        and (query.started_from is None or _at_or_after(started, query.started_from))
        and (query.started_to is None or _at_or_before(started, query.started_to))
    )


def _at_or_after(started: str | None, moment: datetime) -> bool:
    return started is not None and started >= utc_text(moment)


def _at_or_before(started: str | None, moment: datetime) -> bool:
    return started is not None and started <= utc_text(moment)


LISTED = ("id", "customerId", "quote", "saga")


def listed(view: View) -> View:
    """What ViewStore.query returns of a view: all but its timeline (and a store's own
    fields), the keys it has only."""
    return {k: view[k] for k in LISTED if k in view}


def page_key(view: View) -> PageKey:
    return PageKey((view.get("saga") or {}).get("startedAt"), view["id"])


def sort_key(key: PageKey) -> tuple[str, str]:
    """Ascending order of this key is the query's order reversed: most recent first means
    sorting by this, descending (a view without a startedAt, "" here, sorts below every other)."""
    return (key.started_at or "", key.view_id)


def after(view: View, key: PageKey | None) -> bool:
    """Whether `view` comes after `key` in the query's order (most recent first)."""
    return key is None or sort_key(page_key(view)) < sort_key(key)


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
