"""Handling one command: route it to its aggregate's decider and append what it decides."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from application.deciding import Decider, Decision, DecisionRunner, Metadata
from application.ports import EventStore
from domain import customer, policy, quote, saga
from domain.messages import CommandEnvelope, StreamCategory, command_category, read_command


@dataclass(frozen=True)
class Rules:
    """The business parameters of a deployment (settings, not constants in code)."""

    underwriting: policy.UnderwritingRules = field(default_factory=policy.UnderwritingRules)
    customers: customer.CustomerRules = field(default_factory=customer.CustomerRules)
    saga: saga.SagaRules = field(default_factory=saga.SagaRules)


def aggregates(rules: Rules) -> dict[StreamCategory, Decider[Any, Any, Any]]:
    """One decider per aggregate category, with the deployment's rules bound in."""
    return {
        "quote": Decider("quote", quote.initial_state, quote.decide, quote.evolve),
        "policy": Decider(
            "policy",
            policy.initial_state,
            partial(policy.decide, rules=rules.underwriting),
            policy.evolve,
        ),
        "customer": Decider(
            "customer",
            customer.initial_state,
            partial(customer.decide, rules=rules.customers),
            customer.evolve,
        ),
    }


class CommandHandler:
    """Handles commands idempotently on their commandId; one instance per worker."""

    def __init__(
        self, store: EventStore, clock: Callable[[], datetime], rules: Rules | None = None
    ) -> None:
        self.runner = DecisionRunner(store, clock)
        self.deciders = aggregates(rules or Rules())

    def handle(self, envelope: CommandEnvelope) -> Decision[Any]:
        """Decide and append. Raises Unprocessable (malformed; DomainError: refused),
        ConcurrencyConflict (contention that outlasted the retries), TransientFailure."""
        command = read_command(envelope)
        decider = self.deciders[command_category(envelope.commandType)]
        meta = Metadata(envelope.commandId, envelope.correlationId, envelope.traceparent)
        return self.runner.run(decider, envelope.aggregateId, command, meta)

    def state_of(self, category: StreamCategory, aggregate_id: str) -> Any:
        """The current state of one aggregate (a fresh read of its stream)."""
        decider = self.deciders[category]
        state, _ = self.runner.load(decider, f"{category}-{aggregate_id}")
        return state
