"""Cancelling sagas over the real application services: the undo goes out at once, the view
shows it, and whenever the cancellation lands among redelivered, interleaved messages, every
saga ends as it must with the invariants holding."""

import logging
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import pytest

from domain.errors import DomainError
from domain.policy import PolicyStatus
from domain.registry import POLICY
from domain.saga import SagaCancelled, policy_id_for
from tests.support.builders import ACCEPTED_PREMIUM, OVER_LIMIT_PREMIUM, accepted_premium
from tests.support.world import World

pytestmark = pytest.mark.unit

TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
WHY = "cancelled by ops: customer withdrew"


def approved(
    world: World, quote_id: str, customer_id: str = "C1", premium: Decimal = ACCEPTED_PREMIUM
):
    world.quotes.create(customer_id, premium, quote_id)
    world.quotes.approve(quote_id)


def saga_types(world: World, quote_id: str) -> list[str]:
    return [e.eventType for e in world.store.read_stream(f"saga-{quote_id}")]


def test_a_cancellation_sends_its_undo_at_once_and_the_view_shows_it(caplog):
    world = World()
    approved(world, "Q1")
    world.orchestrator.process_documents([e.to_document() for _, e in world.store.read_all()])
    world.publisher.drain()  # the CreatePolicy is on its way
    with caplog.at_level(logging.INFO, logger="quoting.orchestrator"):
        outcome = world.orchestrator.cancel("Q1", "customer withdrew", "ops", TRACE)
    sent = world.publisher.drain()
    assert [c.commandType for c in sent] == ["CancelPolicy", "RejectQuote"]
    assert sent == list(outcome.commands)
    assert {c.traceparent for c in sent} == {TRACE}
    assert {c.data["reason"] for c in sent} == {WHY}
    view = world.views.get("Q1").view.model_dump(mode="json")
    assert (view["saga"]["status"], view["saga"]["step"]) == ("Compensating", "RejectQuote")
    assert view["saga"]["version"] == 2
    [entry] = [e for e in view["timeline"] if e["eventType"] == "SagaCancelled"]
    assert entry["reason"] == WHY
    [record] = [r for r in caplog.records if "cancel" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert record.custom_dimensions == {
        "correlationId": "Q1", "sagaStatus": "Compensating", "commands": "CancelPolicy,RejectQuote",
    }  # fmt: skip
    assert "by 'ops': 'customer withdrew'" in record.getMessage()


def test_cancelling_again_decides_nothing_new_and_resends_the_same_commands():
    # A repeat re-sends what the first decided (same ids): a first request whose publish
    # failed after the saga recorded it is finished by its retry; the handlers' receipts
    # make the re-sent commands no-ops otherwise.
    world = World()
    approved(world, "Q1")
    world.orchestrator.process_documents([e.to_document() for _, e in world.store.read_all()])
    first = world.orchestrator.cancel("Q1", "customer withdrew", "ops")
    again = world.orchestrator.cancel("Q1", "another reason", "bob")
    assert again.commands == first.commands
    assert again.events == first.events  # the first decision's SagaCancelled, not a new one
    assert saga_types(world, "Q1") == ["SagaStarted", "SagaCancelled"]
    world.pump(random.Random(0))
    world.check_invariants()
    assert world.views.get("Q1").view.quote.rejectionReason == WHY


def test_a_refused_cancellation_publishes_and_projects_nothing():
    world = World()
    approved(world, "Q1")
    with pytest.raises(DomainError) as refused:
        world.orchestrator.cancel("Q1", "too early", "ops")  # the feed has not run yet
    assert refused.value.kind == "not-found"
    world.pump(random.Random(0))
    before = world.views.get("Q1")
    with pytest.raises(DomainError) as refused:
        world.orchestrator.cancel("Q1", "too late", "ops")
    assert refused.value.kind == "conflict"
    assert "Completed" in refused.value.detail
    assert world.publisher.drain() == []
    assert world.views.get("Q1") == before


def test_a_cancellation_whose_commands_were_lost_is_retried_by_the_time_out():
    world = World()
    approved(world, "Q1")
    world.orchestrator.process_documents([e.to_document() for _, e in world.store.read_all()])
    world.orchestrator.cancel("Q1", "customer withdrew", "ops")
    lost = world.publisher.drain()  # CreatePolicy, CancelPolicy, RejectQuote: all lost
    world.clock.advance(timedelta(minutes=6))
    assert world.orchestrator.expire(world.clock()) == 1
    resent = world.publisher.commands  # left to be delivered by the pump
    assert [c.commandId for c in resent] == [c.commandId for c in lost[1:]]
    world.pump(random.Random(0))
    assert saga_types(world, "Q1") == [
        "SagaStarted", "SagaCancelled", "SagaCompensationRetried", "SagaCompensated",
    ]  # fmt: skip
    world.check_invariants()


@dataclass
class CancellingWorld(World):
    """A world in which an operator cancels every saga just before the n-th delivery."""

    cancel_before: int = 0
    answers: dict[str, str] = field(default_factory=dict)

    def deliver(self, kind: str, batch: list[object]) -> None:
        if self.deliveries == self.cancel_before:
            for quote_id in QUOTES:
                self.answers[quote_id] = self._cancel(quote_id)
        super().deliver(kind, batch)

    def _cancel(self, quote_id: str) -> str:
        try:
            outcome = self.orchestrator.cancel(quote_id, "customer withdrew", "ops")
        except DomainError as refused:
            return refused.kind
        kinds = [c.commandType for c in outcome.commands]
        if not any(isinstance(e, SagaCancelled) for _, e in outcome.events):
            return "compensating"
        return "at count" if "RemoveCustomerPolicy" in kinds else "at create"


QUOTES = ["Q-happy", "Q-big", *(f"Q-full-{i}" for i in range(6))]


def test_every_saga_ends_as_it_must_wherever_the_cancellation_lands():
    seen: Counter[str] = Counter()
    for seed in range(4):
        for cancel_before in range(0, 300, 15):  # a run is 200-300 deliveries
            world, rng = CancellingWorld(cancel_before=cancel_before), random.Random(seed)
            approved(world, "Q-happy")
            approved(world, "Q-big", premium=OVER_LIMIT_PREMIUM)
            for i in range(6):
                approved(world, f"Q-full-{i}", "C-full", accepted_premium(i))
            world.pump(rng, redeliver=1.0)
            world.check_invariants()
            for quote_id in QUOTES:
                answer = world.answers.get(quote_id, "never asked")
                seen[answer] += 1
                status = world.saga_status(quote_id)
                quote = world.views.get(quote_id).view.model_dump(mode="json")["quote"]
                if answer in ("at create", "at count"):
                    assert status == "Compensated", (seed, cancel_before, quote_id)
                    assert quote["rejectionReason"] == WHY
                    policy = world.commands.state_of(POLICY, policy_id_for(quote_id))
                    assert policy is None or policy.status is not PolicyStatus.ACTIVE
                elif answer == "compensating":
                    assert status == "Compensated"
                    assert quote["rejectionReason"] != WHY
                elif answer == "conflict":
                    assert status in ("Completed", "Compensated")
                    assert quote.get("rejectionReason") != WHY
    # Every case was met at least once: the cancellation at each step, while compensating,
    # too early (no saga yet) and too late (ended).
    assert {"at create", "at count", "compensating", "not-found", "conflict"} <= set(seen), seen
