"""An in-memory world that runs the real application services and delivers messages the way
the real transports may: per-partition order kept, partitions interleaved at random, every
message possibly delivered again later (at-least-once)."""

from __future__ import annotations

import random
import threading
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from adapters.memory import (
    InMemoryCommandPublisher,
    InMemoryDeadLetterStore,
    InMemoryEventStore,
    InMemoryViewStore,
)
from application.commands import CommandHandler, Rules
from application.deciding import DecisionRunner
from application.inbox import CommandInbox
from application.orchestration import Orchestrator
from application.quotes import QuoteService
from application.saga_step import SagaStep
from domain import codec
from domain.messages import EventEnvelope
from tests.support.invariants import check_invariants


class FakeClock:
    """A clock the test moves; each reading is one millisecond later than the last."""

    def __init__(self, start: datetime = datetime(2026, 1, 1, tzinfo=UTC)) -> None:
        self.now, self._lock = start, threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            self.now += timedelta(milliseconds=1)
            return self.now

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self.now += delta


@dataclass
class World:
    rules: Rules = field(default_factory=Rules)
    clock: FakeClock = field(default_factory=FakeClock)

    def __post_init__(self) -> None:
        self.store = InMemoryEventStore()
        self.publisher = InMemoryCommandPublisher()
        self.views = InMemoryViewStore()
        self.dead_letters = InMemoryDeadLetterStore()
        self.commands = CommandHandler(self.store, self.clock, self.rules)
        saga_step = SagaStep(DecisionRunner(self.store, self.clock), self.rules.saga)
        self.orchestrator = Orchestrator(
            saga_step, self.publisher, self.views, self.dead_letters, self.clock
        )
        self.inbox = CommandInbox(self.commands, self.dead_letters, self.clock, "commands")
        self.quotes = QuoteService(self.commands, self.views, self.clock, lambda: str(uuid.uuid4()))
        self.feed_position = 0
        self.deliveries = 0

    def pump(self, rng: random.Random, redeliver: float = 1.0, max_batch: int = 3) -> None:
        """Deliver everything until quiet: feed events by stream, commands by target."""
        queues: dict[tuple[str, str], deque[object]] = defaultdict(deque)
        while True:
            for position, envelope in self.store.read_all(self.feed_position):
                self.feed_position = position
                queues[("feed", envelope.streamId)].append(envelope.to_document())
            for command in self.publisher.drain():
                queues[("hub", command.aggregateId)].append(command.model_dump_json())
            ready = [key for key, queue in queues.items() if queue]
            if not ready:
                return
            kind, key = ready[rng.randrange(len(ready))]
            queue = queues[(kind, key)]
            batch = [queue.popleft() for _ in range(min(len(queue), rng.randint(1, max_batch)))]
            for message in batch:
                if rng.random() < redeliver / 2:
                    queue.append(message)  # redelivered later, behind what follows it
            for _ in range(2 if rng.random() < redeliver / 2 else 1):  # or twice at once
                self.deliver(kind, batch)

    def deliver(self, kind: str, batch: list[object]) -> None:
        self.deliveries += 1
        if kind == "feed":
            self.orchestrator.process_documents(batch)  # type: ignore[arg-type]
        else:
            self.inbox.receive(batch)  # type: ignore[arg-type]

    # --- what must hold whatever the delivery order -----------------------------------------

    def all_events(self) -> list[EventEnvelope]:
        return [e for _, e in self.store.read_all(0, 10**9)]

    def check_invariants(self) -> None:
        check_invariants(self.store, self.dead_letters.list(), self.rules)

    def saga_status(self, quote_id: str) -> str | None:
        view = self.views.get(quote_id)
        return view.view.saga.status if view and view.view.saga else None

    def decoded(self, stream: str) -> list[object]:
        return [codec.decode(e) for e in self.store.read_stream(stream)]
