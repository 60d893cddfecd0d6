"""What registering an aggregate takes: its stream category, stored command and event names, the
field that addresses a command, its decider, and the settings its rules are built from."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from domain.messages import Message, StreamCategory

S = TypeVar("S")
C = TypeVar("C")
E = TypeVar("E", bound=Message)
R = TypeVar("R")

# A setting's value by name (bootstrap.Settings.__getitem__, or an aggregate's own defaults).
SettingGetter = Callable[[str], str]


def never(_: object) -> bool:
    """`starts` of a decider none of whose commands is known to open a stream."""
    return False


@dataclass(frozen=True)
class Decider(Generic[S, C, E]):
    """An aggregate or a workflow: initial state, decide, evolve (the decider pattern).

    `starts(command)`: the command normally comes first in its stream (CreateQuote), so a
    worker that has not seen the stream may decide it on the initial state and append at
    version 0 without reading; the store refuses that append if the stream exists.
    """

    category: StreamCategory
    initial_state: S
    decide: Callable[[S, C], Sequence[E]]
    evolve: Callable[[S, E], S]
    starts: Callable[[C], bool] = never


@dataclass(frozen=True)
class Aggregate(Generic[S, C, E, R]):
    """One registered aggregate. Its hub, consumer group and their settings derive from the
    category (`quote` -> QUOTE_COMMANDS_HUB=quote-commands, QUOTE_CONSUMER_GROUP=quote-handler),
    so that registering it is all a new aggregate asks of the wiring."""

    category: StreamCategory
    target_field: str  # the command field naming the aggregate a command is addressed to
    commands: Mapping[str, type[C]]  # stored commandType -> class
    events: Mapping[str, tuple[type[E], int]]  # stored eventType -> (class, schema version)
    initial_state: S
    decide: Callable[[S, C, R], Sequence[E]]
    evolve: Callable[[S, E], S]
    rules_from: Callable[[SettingGetter], R]
    settings: Mapping[str, str] = field(default_factory=dict)  # its own settings: defaults
    creates: tuple[type[C], ...] = ()  # commands that normally open a stream (Decider.starts)

    @property
    def hub_setting(self) -> str:
        return f"{self.category.upper()}_COMMANDS_HUB"

    @property
    def consumer_group_setting(self) -> str:
        return f"{self.category.upper()}_CONSUMER_GROUP"

    @property
    def wiring_defaults(self) -> dict[str, str]:
        """Its hub and consumer group settings with their default names."""
        return {
            self.hub_setting: f"{self.category}-commands",
            self.consumer_group_setting: f"{self.category}-handler",
        }

    def default_rules(self) -> R:
        """Its rules from its own settings' defaults."""
        return self.rules_from(self.settings.__getitem__)

    def decider(self, rules: R) -> Decider[S, C, E]:
        """Its decider with a deployment's rules bound in."""
        decide, creates = self.decide, self.creates

        def decide_with_rules(state: S, command: C) -> Sequence[E]:
            return decide(state, command, rules)

        def starts(command: C) -> bool:
            return isinstance(command, creates)

        return Decider(self.category, self.initial_state, decide_with_rules, self.evolve, starts)


# The registry's collection is heterogeneous; typed access goes through each aggregate's
# module-level constant (registry.QUOTE, registry.POLICY, ...), which keeps its own types.
AnyAggregate = Aggregate[Any, Any, Any, Any]


def no_rules(_: SettingGetter) -> None:
    """`rules_from` of an aggregate whose decisions take no setting."""


def without_rules(
    decide: Callable[[S, C], Sequence[E]],
) -> Callable[[S, C, None], Sequence[E]]:
    """`decide` of an aggregate without rules, in the shape a registration takes."""

    def decide_ignoring_rules(state: S, command: C, _: None) -> Sequence[E]:
        return decide(state, command)

    return decide_ignoring_rules
