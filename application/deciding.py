"""Load, decide, append: the one loop behind every aggregate command and every saga step.

State is cached per worker by stream and version; a stream not cached is guessed new when the
command normally opens it (Decider.starts). A cached or guessed state is only a guess: a decision
that appends is guarded by the store's conditional append, and a decision that appends
nothing (a no-op or a refusal) is re-checked against a fresh read before it is believed.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar, cast

from application.ports import ConcurrencyConflict, EventStore, Outcome
from domain import codec
from domain.aggregate import Decider
from domain.errors import DomainError
from domain.ids import uuid5
from domain.messages import EventEnvelope, Message, document_id, stream_id

S = TypeVar("S")
C = TypeVar("C")
E = TypeVar("E", bound=Message)

EVENT_NAMESPACE = uuid.UUID("0b8f4a52-8a57-4a0e-9a7e-6f2d3c1e5b77")

# Decider lives in the domain (domain/aggregate.py); re-exported for the runner's callers.
__all__ = ["Decider", "Decision", "DecisionRunner", "Metadata"]


@dataclass(frozen=True)
class Metadata:
    """Why the decision is made: `key` is the idempotency key (command or causing event id)."""

    key: str
    correlation_id: str
    traceparent: str | None = None


@dataclass(frozen=True)
class Decision(Generic[S]):
    outcome: Outcome
    state: S
    version: int
    events: tuple[EventEnvelope, ...] = ()
    before: S | None = None  # the state the appended events were decided on (when appended)


class DecisionRunner:
    """Runs deciders over an EventStore with a bounded, version-checked state cache."""

    def __init__(
        self,
        store: EventStore,
        clock: Callable[[], datetime],
        cache_size: int = 10_000,
        max_attempts: int = 8,
    ) -> None:
        self.store, self.clock, self.max_attempts = store, clock, max_attempts
        self._cache: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def run(
        self, decider: Decider[S, C, E], aggregate_id: str, command: C, meta: Metadata
    ) -> Decision[S]:
        stream = stream_id(decider.category, aggregate_id)
        cached = self._cached(stream)
        if cached is None and decider.starts(command):
            # A stream this worker has not seen and a command that normally opens it: decide on
            # the initial state and append at version 0 unread; the append conflicts if the
            # stream exists, and a refusal or no-op is re-checked against a read, as for a guess
            # from the cache.
            cached = (decider.initial_state, 0)
        # The idempotency keys of the stream's events as just read; None while the state is
        # trusted to nothing but a guess (the cache's, or a new stream's initial state).
        causes: frozenset[str] | None = None
        if cached is None:
            state, version, causes = self._read(decider, stream)
        else:
            state, version = cached
        for _ in range(self.max_attempts):
            try:
                new = list(decider.decide(state, command))
            except DomainError:
                if causes is not None:
                    if meta.key in causes:
                        # Refused now, but this very command was handled before (a retry
                        # after the state moved on): answered as the duplicate it is.
                        return Decision(Outcome.ALREADY_HANDLED, state, version)
                    raise
                state, version, causes = self._read(decider, stream)
                continue
            if not new:
                if causes is not None:
                    return Decision(Outcome.UNCHANGED, state, version)
                state, version, causes = self._read(decider, stream)
                continue
            envelopes = self._envelopes(stream, version, new, meta)
            try:
                outcome = self.store.append(stream, version, envelopes, meta.key)
            except ConcurrencyConflict:
                state, version, causes = self._read(decider, stream)
                continue
            if outcome is Outcome.ALREADY_HANDLED:
                state, version = self.load(decider, stream)
                return Decision(Outcome.ALREADY_HANDLED, state, version)
            before = state
            for event in new:
                state = decider.evolve(state, event)
            version += len(new)
            self._remember(stream, state, version)
            return Decision(Outcome.APPENDED, state, version, tuple(envelopes), before)
        raise ConcurrencyConflict(f"{stream}: still conflicting after {self.max_attempts} tries")

    def load(self, decider: Decider[S, C, E], stream: str) -> tuple[S, int]:
        """State and version of a stream from a full read (one request for a short stream).
        Never from the cache: a cached state is what is being checked."""
        state, version, _ = self._read(decider, stream)
        return state, version

    def _read(self, decider: Decider[S, C, E], stream: str) -> tuple[S, int, frozenset[str]]:
        """`load`, with the idempotency keys (causationId) of the stream's events."""
        state, version, causes = decider.initial_state, 0, set()
        for envelope in self.store.read_stream(stream):
            state = decider.evolve(state, cast(E, codec.decode(envelope)))
            version = envelope.sequenceNumber
            causes.add(envelope.causationId)
        self._remember(stream, state, version, replace=True)
        return state, version, frozenset(causes)

    def _envelopes(
        self, stream: str, version: int, events: list[E], meta: Metadata
    ) -> list[EventEnvelope]:
        now = self.clock()
        envelopes = []
        for offset, event in enumerate(events, start=1):
            event_type, schema_version, data = codec.encode(event)
            envelopes.append(
                EventEnvelope(
                    id=document_id(stream, version + offset),
                    streamId=stream,
                    sequenceNumber=version + offset,
                    eventId=uuid5(EVENT_NAMESPACE, f"{stream}:{meta.key}:{offset}"),
                    eventType=event_type,
                    schemaVersion=schema_version,
                    timestamp=now,
                    correlationId=meta.correlation_id,
                    causationId=meta.key,
                    traceparent=meta.traceparent,
                    data=data,
                )
            )
        return envelopes

    def _cached(self, stream: str) -> tuple[Any, int] | None:
        with self._lock:
            entry = self._cache.get(stream)
            if entry is not None:
                self._cache.move_to_end(stream)
            return entry

    def _remember(self, stream: str, state: object, version: int, replace: bool = False) -> None:
        """Cache a state; a newer one than cached wins, a freshly read one always does."""
        with self._lock:
            current = self._cache.get(stream)
            if replace or current is None or current[1] <= version:
                self._cache[stream] = (state, version)
                self._cache.move_to_end(stream)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
