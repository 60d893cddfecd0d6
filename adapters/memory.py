"""In-memory adapters: the reference behaviour of every port, for unit tests and `memory` runs.

Thread-safe (one lock per store), held to the same contract suites as the real adapters.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from datetime import datetime

from application.ports import (
    AppendOutcome,
    ConcurrencyConflict,
    DeadLetter,
    LetterState,
    Outcome,
    SagaCounts,
    Versioned,
    ViewQuery,
)
from application.read_model import ListedView, QuoteView
from application.streams import check_batch
from domain.messages import CommandEnvelope, EventEnvelope


class InMemoryEventStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._streams: dict[str, list[EventEnvelope]] = {}
        self._receipts: set[tuple[str, str]] = set()
        self._log: list[EventEnvelope] = []  # global append order, like a change feed

    def read_stream(self, stream_id: str, after: int = 0) -> list[EventEnvelope]:
        with self._lock:
            return [e for e in self._streams.get(stream_id, []) if e.sequenceNumber > after]

    def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[EventEnvelope],
        command_id: str,
    ) -> AppendOutcome:
        check_batch(stream_id, expected_version, events)
        with self._lock:
            if (stream_id, command_id) in self._receipts:
                return Outcome.ALREADY_HANDLED
            stream = self._streams.setdefault(stream_id, [])
            if len(stream) != expected_version:
                raise ConcurrencyConflict(
                    f"{stream_id} is at version {len(stream)}, not {expected_version}"
                )
            stream.extend(events)
            self._log.extend(events)
            self._receipts.add((stream_id, command_id))
            return Outcome.APPENDED

    def read_all(
        self, after_position: int = 0, limit: int = 1000
    ) -> list[tuple[int, EventEnvelope]]:
        """(position, event) in append order after a position; positions start at 1."""
        with self._lock:
            window = self._log[after_position : after_position + limit]
            return list(enumerate(window, start=after_position + 1))


class InMemoryCommandPublisher:
    """Records what was published, in order; tests deliver it to the handlers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.commands: list[CommandEnvelope] = []
        self.events: list[EventEnvelope] = []

    def publish(
        self, commands: Sequence[CommandEnvelope], events: Sequence[EventEnvelope] = ()
    ) -> None:
        with self._lock:
            self.commands.extend(commands)
            self.events.extend(events)

    def drain(self) -> list[CommandEnvelope]:
        """Take the commands published so far (each once)."""
        with self._lock:
            taken, self.commands = self.commands, []
            return taken


class InMemoryViewStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._docs: dict[str, Versioned] = {}

    def get(self, view_id: str) -> Versioned | None:
        with self._lock:
            return self._docs.get(view_id)

    def save(self, view: QuoteView, etag: str | None) -> str:
        with self._lock:
            current = self._docs.get(view.id)
            if (current.etag if current else None) != etag:
                raise ConcurrencyConflict(f"view {view.id} changed since it was read")
            saved = Versioned(view=view, etag=uuid.uuid4().hex)
            self._docs[view.id] = saved
            return saved.etag

    def due(self, now: datetime, limit: int = 100) -> list[QuoteView]:
        from application.views import is_due

        with self._lock:
            return [v.view for v in self._docs.values() if is_due(v.view, now)][:limit]

    def query(self, query: ViewQuery) -> list[ListedView]:
        from application import views

        with self._lock:
            documents = [v.view for v in self._docs.values()]
        found = [d for d in documents if views.matches(d, query) and views.after(d, query.after)]
        found.sort(key=lambda d: views.sort_key(views.page_key(d)), reverse=True)
        return [views.listed(d) for d in found[: query.limit]]

    def counts(self, now: datetime) -> SagaCounts:
        from application.views import is_stuck
        from domain.saga import SagaStatus

        with self._lock:
            sagas = [v.view.saga for v in self._docs.values() if v.view.saga]
            stuck = sum(is_stuck(v.view, now) for v in self._docs.values())
        by_status = {s.value: sum(saga.status == s for saga in sagas) for s in SagaStatus}
        return SagaCounts(by_status, stuck)


class InMemoryDeadLetterStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._letters: dict[str, DeadLetter] = {}

    def put(self, letter: DeadLetter) -> None:
        with self._lock:
            self._letters.setdefault(letter.id, letter)

    def get(self, letter_id: str) -> DeadLetter | None:
        with self._lock:
            return self._letters.get(letter_id)

    def list(
        self,
        limit: int = 100,
        correlation_id: str | None = None,
        state: LetterState | None = None,
    ) -> list[DeadLetter]:
        with self._lock:
            letters = [
                x
                for x in self._letters.values()
                if correlation_id in (None, x.correlationId)
                and state in (None, "replayed" if x.replayedAt else "open")
            ]
        return sorted(letters, key=lambda x: x.receivedAt, reverse=True)[:limit]

    def update_reason(self, letter_id: str, reason: str) -> None:
        with self._lock:
            letter = self._letters[letter_id]
            self._letters[letter_id] = letter.model_copy(update={"reason": reason})

    def mark_replayed(self, letter_id: str, at: datetime) -> None:
        with self._lock:
            letter = self._letters[letter_id]
            self._letters[letter_id] = letter.model_copy(update={"replayedAt": at})
