"""Handling one command: route it to its aggregate's decider and append what it decides."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar, cast

from application.deciding import Decider, Decision, DecisionRunner, Metadata
from application.ports import EventStore
from domain import registry
from domain.aggregate import Aggregate, SettingGetter
from domain.errors import Unprocessable
from domain.messages import CommandEnvelope, Message, StreamCategory, stream_id
from domain.saga import SagaRules

S = TypeVar("S")
C = TypeVar("C")
E = TypeVar("E", bound=Message)
R = TypeVar("R")


@dataclass(frozen=True)
class Rules:
    """The business parameters of a deployment (settings, not constants in code): each
    registered aggregate's (its defaults unless given) and the saga's."""

    saga: SagaRules = field(default_factory=SagaRules)
    by_category: Mapping[StreamCategory, object] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, setting: SettingGetter, saga_rules: SagaRules) -> Rules:
        """Every aggregate's rules built from the deployment's settings."""
        return cls(saga_rules, {a.category: a.rules_from(setting) for a in registry.AGGREGATES})

    def of(self, aggregate: Aggregate[Any, Any, Any, R]) -> R:
        if aggregate.category in self.by_category:
            return cast(R, self.by_category[aggregate.category])
        return aggregate.default_rules()

    def with_rules(self, aggregate: Aggregate[Any, Any, Any, R], rules: R) -> Rules:
        """These rules with one aggregate's replaced."""
        return Rules(self.saga, {**self.by_category, aggregate.category: rules})


def decider_of(aggregate: Aggregate[S, C, E, R], rules: Rules) -> Decider[S, C, E]:
    """An aggregate's decider with the deployment's rules bound in."""
    return aggregate.decider(rules.of(aggregate))


class CommandHandler:
    """Handles commands idempotently on their commandId; one instance per worker."""

    def __init__(
        self, store: EventStore, clock: Callable[[], datetime], rules: Rules | None = None
    ) -> None:
        self.runner = DecisionRunner(store, clock)
        self.rules = rules or Rules()

    def handle(self, envelope: CommandEnvelope) -> Decision[object]:
        """Decide and append. Raises Unprocessable (malformed; DomainError: refused),
        ConcurrencyConflict (contention that outlasted the retries), TransientFailure."""
        command = registry.read_command(envelope)
        aggregate = registry.BY_CATEGORY[registry.command_category(envelope.commandType)]
        decision: Decision[object] = self._run(aggregate, envelope, command)
        return decision

    def handle_as(self, aggregate: Aggregate[S, C, E, R], envelope: CommandEnvelope) -> Decision[S]:
        """`handle` of a command the caller knows the aggregate of, with its state's type;
        Unprocessable if the command is another aggregate's."""
        command = registry.read_command(envelope)
        if registry.command_category(envelope.commandType) != aggregate.category:
            raise Unprocessable(f"{envelope.commandType} is not a {aggregate.category} command")
        return self._run(aggregate, envelope, cast(C, command))

    def _run(
        self, aggregate: Aggregate[S, C, E, R], envelope: CommandEnvelope, command: C
    ) -> Decision[S]:
        meta = Metadata(envelope.commandId, envelope.correlationId, envelope.traceparent)
        return self.runner.run(
            decider_of(aggregate, self.rules), envelope.aggregateId, command, meta
        )

    def state_of(self, aggregate: Aggregate[S, C, E, R], aggregate_id: str) -> S:
        """The current state of one aggregate (a fresh read of its stream)."""
        state, _ = self.runner.load(
            decider_of(aggregate, self.rules), stream_id(aggregate.category, aggregate_id)
        )
        return state
