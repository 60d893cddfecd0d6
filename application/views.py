"""The quote read model: one document per quote with its saga's status and timeline.

Pure functions over the typed document (application/read_model.py), applied by the
orchestrator; every apply is idempotent (timeline entries are keyed by event id) and
order-insensitive across streams. The query rules every view store implements (`matches`,
`sort_key`) are defined here too.
"""

from __future__ import annotations

import bisect
from datetime import datetime

from application.ports import PageKey, ViewQuery
from application.read_model import (
    ListedView,
    QuoteSummary,
    QuoteView,
    SagaProgress,
    TimelineEntry,
    iso_text,
    utc_text,
)
from domain import messages as m
from domain.quote import QuoteStatus
from domain.saga import TERMINAL, SagaStarted, SagaState

# utc_text lives with the types whose times it writes (read_model); it is exported here too,
# where the queries and the HTTP API have always found it.
__all__ = [
    "after", "apply_event", "apply_saga", "empty_view", "is_due", "is_stuck", "listed",
    "matches", "page_key", "sort_key", "utc_text",
]  # fmt: skip


def empty_view(quote_id: str) -> QuoteView:
    return QuoteView(id=quote_id)


def apply_event(view: QuoteView, envelope: m.EventEnvelope, event: object) -> QuoteView:
    """Fold one stored event (domain or saga) of this quote into its view."""
    changes: dict[str, object] = {"timeline": _with_entry(view.timeline, envelope)}
    quote = view.quote or QuoteSummary(quoteId=envelope.correlationId)
    match event:
        case m.QuoteCreated():
            status = quote.status or QuoteStatus.CREATED
            terms = {"customerId": event.customerId, "premium": event.premium, "status": status}
            changes |= {"quote": quote.model_copy(update=terms), "customerId": event.customerId}
        case m.QuoteApproved():
            if quote.status != QuoteStatus.REJECTED:
                quote = quote.model_copy(update={"status": QuoteStatus.APPROVED})
            changes |= {"quote": quote, "customerId": event.customerId}
        case SagaStarted():
            changes["customerId"] = event.customerId
        case m.QuoteRejected():
            update = {"status": QuoteStatus.REJECTED, "rejectionReason": event.reason}
            changes["quote"] = quote.model_copy(update=update)
        case m.PolicyCreated():
            changes["quote"] = quote.model_copy(update={"policyId": event.policyId})
        case _:
            pass  # it only joins the timeline
    return view.model_copy(update=changes)


def apply_saga(view: QuoteView, state: SagaState, version: int) -> QuoteView:
    """Record the saga's state as of `version` of its stream, never going backwards, with
    when it started, when it last changed and its last reason, as its timeline tells them
    (derived again on every apply: an older saga event may join the timeline late)."""
    saga = view.saga
    if state.status is not None and (saga.version if saga else 0) < version:
        saga = SagaProgress(
            status=state.status,
            step=state.step,
            deadline=state.deadline,
            policyId=state.policyId,
            version=version,
        )
    if saga is None:
        return view
    story = _story(view.timeline, m.stream_id("saga", view.id), saga.version)
    saga = saga.model_copy(update=story)
    return view if saga == view.saga else view.model_copy(update={"saga": saga})


def _story(
    timeline: tuple[TimelineEntry, ...], stream: str, version: int
) -> dict[str, datetime | str | None]:
    """startedAt, updatedAt and reason of the saga's own entries up to `version`; a field
    stays None (out of the document) while the timeline cannot tell it (a view's missing
    field means unknown)."""
    entries = sorted(
        (e for e in timeline if e.streamId == stream and e.sequenceNumber <= version),
        key=lambda e: e.sequenceNumber,
    )
    story: dict[str, datetime | str | None] = dict.fromkeys(_STORY)
    for entry in entries:
        if entry.eventType == "SagaStarted":
            story["startedAt"] = entry.timestamp
        story["updatedAt"] = entry.timestamp
        if entry.reason:
            story["reason"] = entry.reason
    return story


_STORY = ("startedAt", "updatedAt", "reason")


def is_due(view: ListedView, now: datetime) -> bool:
    """A saga still waiting on a step whose deadline has passed."""
    saga = view.saga
    if saga is None or saga.deadline is None or saga.status in TERMINAL:
        return False
    return saga.deadline <= now


def is_stuck(view: ListedView, now: datetime) -> bool:
    """A saga still waiting on a step whose deadline is past (strictly before `now`)."""
    saga = view.saga
    if saga is None or saga.deadline is None or saga.status in TERMINAL:
        return False
    return saga.deadline < now


def matches(view: ListedView, query: ViewQuery) -> bool:
    """Whether `query` selects `view` (its paging aside): the rule every ViewStore.query
    implements. A view without a startedAt (written before it was recorded) matches no
    date range. Times compare as their utc_text, as the stores' queries compare them."""
    saga = view.saga
    started = saga.startedAt if saga else None
    return (
        (saga is not None or not query.with_saga)
        and (query.status is None or (saga is not None and saga.status == query.status))
        and (query.stuck_at is None or is_stuck(view, query.stuck_at))
        and (query.customer_id is None or view.customerId == query.customer_id)
        and (query.started_from is None or _at_or_after(started, query.started_from))
        and (query.started_to is None or _at_or_before(started, query.started_to))
    )


def _at_or_after(started: datetime | None, moment: datetime) -> bool:
    return started is not None and utc_text(started) >= utc_text(moment)


def _at_or_before(started: datetime | None, moment: datetime) -> bool:
    return started is not None and utc_text(started) <= utc_text(moment)


def listed(view: ListedView) -> ListedView:
    """What ViewStore.query returns of a view: all but its timeline (and a store's own
    fields)."""
    return ListedView(id=view.id, customerId=view.customerId, quote=view.quote, saga=view.saga)


def page_key(view: ListedView) -> PageKey:
    started = view.saga.startedAt if view.saga else None
    return PageKey(None if started is None else utc_text(started), view.id)


def sort_key(key: PageKey) -> tuple[str, str]:
    """Ascending order of this key is the query's order reversed: most recent first means
    sorting by this, descending (a view without a startedAt, "" here, sorts below every other)."""
    return (key.started_at or "", key.view_id)


def after(view: ListedView, key: PageKey | None) -> bool:
    """Whether `view` comes after `key` in the query's order (most recent first)."""
    return key is None or sort_key(page_key(view)) < sort_key(key)


def _with_entry(
    timeline: tuple[TimelineEntry, ...], e: m.EventEnvelope
) -> tuple[TimelineEntry, ...]:
    if any(entry.eventId == e.eventId for entry in timeline):
        return timeline
    entry = TimelineEntry(
        eventId=e.eventId,
        eventType=e.eventType,
        streamId=e.streamId,
        sequenceNumber=e.sequenceNumber,
        timestamp=e.timestamp,
        reason=e.data.get("reason"),  # None: left out of the document (OMITTED)
    )
    # In the order of the stored texts, as when the timeline was a list of dicts. Every
    # timeline is kept in that order, so the entry is inserted where it belongs (after equal
    # keys, where a stable sort puts it), computing the key of only log2(n) entries.
    entries = list(timeline)
    bisect.insort(entries, entry, key=_timeline_order)
    return tuple(entries)


def _timeline_order(entry: TimelineEntry) -> tuple[str, str, int]:
    return (iso_text(entry.timestamp), entry.streamId, entry.sequenceNumber)
