"""Writing a quote's view once per change-feed batch, without reading it first on a warm worker.

The writer keeps the last view it wrote per quote and the etag the store answered, and folds
new events into that copy: a write at a stale etag (another writer, or a write rolled back
with its invocation's transaction) conflicts, and only then is the view read. A quote's first
event creates the view without a read (a conflict reads it). A fold that changes nothing is
trusted only against a view just read: the cached copy may hold a write that was rolled back,
so a redelivery reads the store before it decides there is nothing to write.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence

from application.ports import ConcurrencyConflict, Versioned, ViewStore
from application.read_model import QuoteView
from application.saga_step import SagaOutcome
from application.views import apply_event, apply_saga, empty_view
from domain import messages as m

Entries = Sequence[tuple[m.EventEnvelope, object]]
Step = tuple[Entries, SagaOutcome]  # the domain events of one step and what the saga did
ATTEMPTS = 8  # conflicting writes before giving up (each conflict reads the view again)
CACHED_VIEWS = 1024  # quotes whose last written view a worker keeps (least recent dropped)


class ViewWriter:
    """Folds steps into a quote's view and writes it once; thread-safe."""

    def __init__(self, capacity: int = CACHED_VIEWS) -> None:
        self._lock = threading.Lock()
        self._written: OrderedDict[str, Versioned] = OrderedDict()
        self._capacity = capacity

    def write(self, views: ViewStore, quote_id: str, steps: Iterable[Step]) -> None:
        """Bring `quote_id`'s view up to date with `steps`: at most one write per attempt."""
        steps = list(steps)
        current = self._cached(quote_id)
        fresh = current is None and not _starts_quote(quote_id, steps)
        for _ in range(ATTEMPTS):
            if fresh:
                current = views.get(quote_id)
            view = current.view if current else empty_view(quote_id)
            updated = fold(view, steps)
            if current is not None and updated == view:
                if fresh:
                    return  # the stored view has it all already
                current, fresh = None, True  # the cache may hold a rolled-back write: read
                continue
            try:
                etag = views.save(updated, current.etag if current else None)
            except ConcurrencyConflict:
                self._forget(quote_id)
                current, fresh = None, True
                continue
            self._remember(Versioned(view=updated, etag=etag))
            return
        raise ConcurrencyConflict(f"view {quote_id} kept changing under the orchestrator")

    def _cached(self, quote_id: str) -> Versioned | None:
        with self._lock:
            found = self._written.get(quote_id)
            if found is not None:
                self._written.move_to_end(quote_id)
            return found

    def _remember(self, written: Versioned) -> None:
        with self._lock:
            self._written[written.view.id] = written
            self._written.move_to_end(written.view.id)
            while len(self._written) > self._capacity:
                self._written.popitem(last=False)

    def _forget(self, quote_id: str) -> None:
        with self._lock:
            self._written.pop(quote_id, None)


def fold(view: QuoteView, steps: Iterable[Step]) -> QuoteView:
    """Every step's domain and saga events, then its saga state, in order."""
    for events, outcome in steps:
        for envelope, event in [*events, *outcome.events]:
            view = apply_event(view, envelope, event)
        view = apply_saga(view, outcome.state, outcome.version)
    return view


def _starts_quote(quote_id: str, steps: Iterable[Step]) -> bool:
    """Whether the steps hold the quote's first event: its view most likely does not exist."""
    stream = m.stream_id("quote", quote_id)
    return any(
        envelope.streamId == stream and envelope.sequenceNumber == 1
        for events, _ in steps
        for envelope, _ in events
    )
