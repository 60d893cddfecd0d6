"""What must hold after any run of the saga, however messages were delivered, duplicated or
interrupted: one implementation over any event store that offers `read_all` (the in-memory
world and the SQLite store of the local host alike)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from application.commands import Rules
from domain import codec, saga
from domain.messages import EventEnvelope
from domain.policy import PolicyStatus
from domain.registry import AGGREGATES, split_stream_id


class FeedStore(Protocol):
    def read_all(
        self, after_position: int = 0, limit: int = 1000
    ) -> list[tuple[int, EventEnvelope]]: ...


@dataclass
class Facts:
    """The states of every stream, folded from the store's feed."""

    events: list[EventEnvelope]
    streams: dict[str, list[EventEnvelope]] = field(default_factory=dict)
    states: dict[str, Any] = field(default_factory=dict)  # stream id -> folded state

    def of(self, category: str) -> dict[str, Any]:
        """States of one category by aggregate id (quote id for sagas)."""
        prefix = f"{category}-"
        return {s[len(prefix) :]: v for s, v in self.states.items() if s.startswith(prefix)}

    def saga_statuses(self) -> dict[str, str | None]:
        return {q: (s.status.value if s.status else None) for q, s in self.of("saga").items()}


def all_events(store: FeedStore, page: int = 5000) -> list[EventEnvelope]:
    events, position = [], 0
    while rows := store.read_all(position, page):
        events.extend(e for _, e in rows)
        position = rows[-1][0]
    return events


def facts(store: FeedStore, rules: Rules | None = None) -> Facts:
    events = all_events(store)
    evolvers: dict[str, tuple[Any, Callable[[Any, Any], Any]]] = {
        a.category: (a.initial_state, a.evolve) for a in AGGREGATES
    }
    evolvers["saga"] = (saga.initial_state, saga.evolve)
    result = Facts(events)
    for event in events:
        result.streams.setdefault(event.streamId, []).append(event)
    for stream, stream_events in result.streams.items():
        initial, evolve = evolvers[split_stream_id(stream)[0]]
        state = initial
        for event in stream_events:
            state = evolve(state, codec.decode(event))
        result.states[stream] = state
    return result


def check_invariants(
    store: FeedStore, dead_letters: Iterable[object] = (), rules: Rules | None = None
) -> Facts:
    """Assert the invariants; returns the folded facts for further checks.

    - no command or saga input applied twice (event ids unique);
    - every stream gap-free (sequence numbers 1..n in feed order);
    - every quote has at most one active policy;
    - every customer counts exactly the active policies it holds;
    - nothing dead-lettered (`dead_letters`: what the store parked).
    """
    found = facts(store, rules)
    ids = Counter(e.eventId for e in found.events)
    twice = [i for i, n in ids.items() if n > 1]
    assert not twice, f"{len(twice)} command(s) or input(s) applied twice, e.g. {twice[:3]}"
    for stream, events in found.streams.items():
        numbers = [e.sequenceNumber for e in events]
        assert numbers == list(range(1, len(numbers) + 1)), f"{stream} has gaps: {numbers}"
    active = [p for p in found.of("policy").values() if p.status is PolicyStatus.ACTIVE]
    per_quote = Counter(p.quoteId for p in active)
    doubled = [q for q, n in per_quote.items() if n > 1]
    assert not doubled, f"quotes with two active policies: {doubled[:3]}"
    held: dict[str, list[str]] = defaultdict(list)
    for policy in active:
        held[policy.customerId].append(policy.policyId)
    for customer_id, customer in found.of("customer").items():
        counted = sorted(customer.activePolicies)
        assert counted == sorted(held[customer_id]), f"customer {customer_id} miscounts"
    letters = list(dead_letters)
    assert not letters, f"{len(letters)} dead-lettered, e.g. {letters[:1]}"
    return found
