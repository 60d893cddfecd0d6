"""The aggregates, registered once. Everything that names them is derived from `AGGREGATES`:
stream ids, command routing, the codec's domain events, the deciders with their rules, the
settings, inboxes, publishers' hubs, triggers and the deployment (tests/infra/test_wiring.py).

A new aggregate keeps its commands, events and decider in its own module; its `Aggregate`
constant is written here, added to `AGGREGATES`, and its unions to `Command` and `DomainEvent`.
"""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import ValidationError

from domain import customer, policy, quote
from domain import messages as m
from domain.aggregate import Aggregate, AnyAggregate, SettingGetter, no_rules, without_rules
from domain.errors import Unprocessable
from domain.messages import CommandEnvelope, Message, StreamCategory

# Every registered aggregate's commands and events, as types: the saga's inputs are typed by
# DomainEvent, so mypy holds the saga to each event a new aggregate adds (domain/saga.py ends
# its match in assert_never); tests/unit/test_registry.py holds both to AGGREGATES.
Command = m.QuoteCommand | m.PolicyCommand | m.CustomerCommand
DomainEvent = m.QuoteEvent | m.PolicyEvent | m.CustomerEvent

QUOTE: Aggregate[quote.Quote | None, m.QuoteCommand, m.QuoteEvent, None] = Aggregate(
    category="quote",
    target_field="quoteId",
    commands={
        "CreateQuote": m.CreateQuote,
        "ApproveQuote": m.ApproveQuote,
        "RejectQuote": m.RejectQuote,
    },
    events={
        "QuoteCreated": (m.QuoteCreated, 3),
        "QuoteApproved": (m.QuoteApproved, 2),
        "QuoteRejected": (m.QuoteRejected, 1),
    },
    initial_state=quote.initial_state,
    decide=without_rules(quote.decide),
    evolve=quote.evolve,
    rules_from=no_rules,
    creates=(m.CreateQuote,),
)

POLICY: Aggregate[
    policy.Policy | None, m.PolicyCommand, m.PolicyEvent, policy.UnderwritingRules
] = Aggregate(
    category="policy",
    target_field="policyId",
    commands={"CreatePolicy": m.CreatePolicy, "CancelPolicy": m.CancelPolicy},
    events={
        "PolicyCreated": (m.PolicyCreated, 2),
        "PolicyCreationFailed": (m.PolicyCreationFailed, 1),
        "PolicyCancelled": (m.PolicyCancelled, 1),
    },
    initial_state=policy.initial_state,
    decide=policy.decide,
    evolve=policy.evolve,
    rules_from=lambda setting: policy.UnderwritingRules(
        policy.premium_limit(setting("UNDERWRITING_PREMIUM_LIMIT"), "UNDERWRITING_PREMIUM_LIMIT")
    ),
    settings={"UNDERWRITING_PREMIUM_LIMIT": "1000000"},
    creates=(m.CreatePolicy,),
)

CUSTOMER: Aggregate[
    customer.Customer | None, m.CustomerCommand, m.CustomerEvent, customer.CustomerRules
] = Aggregate(
    category="customer",
    target_field="customerId",
    commands={
        "UpdateCustomerPolicyCount": m.UpdateCustomerPolicyCount,
        "RemoveCustomerPolicy": m.RemoveCustomerPolicy,
    },
    events={
        "CustomerPolicyCountUpdated": (m.CustomerPolicyCountUpdated, 1),
        "CustomerPolicyCountUpdateFailed": (m.CustomerPolicyCountUpdateFailed, 1),
        "CustomerPolicyRemoved": (m.CustomerPolicyRemoved, 1),
    },
    initial_state=customer.initial_state,
    decide=customer.decide,
    evolve=customer.evolve,
    rules_from=lambda setting: customer.CustomerRules(int(setting("MAX_ACTIVE_POLICIES"))),
    settings={"MAX_ACTIVE_POLICIES": "5"},
)

AGGREGATES: tuple[AnyAggregate, ...] = (QUOTE, POLICY, CUSTOMER)

# --- derived ---------------------------------------------------------------------------------

BY_CATEGORY: dict[StreamCategory, AnyAggregate] = {a.category: a for a in AGGREGATES}
CATEGORIES: tuple[StreamCategory, ...] = (*BY_CATEGORY, m.SAGA_CATEGORY)
STREAM_PATTERN = re.compile(rf"^({'|'.join(map(re.escape, CATEGORIES))})-(.+)$")

COMMAND_TYPES: dict[str, tuple[StreamCategory, type[Message]]] = {
    name: (a.category, cls) for a in AGGREGATES for name, cls in a.commands.items()
}
# Domain events by stored name: (class, current schema version); the codec adds the saga's.
EVENT_TYPES: dict[str, tuple[type[Message], int]] = {
    name: entry for a in AGGREGATES for name, entry in a.events.items()
}
_COMMAND_NAMES: dict[type[Message], str] = {cls: name for name, (_, cls) in COMMAND_TYPES.items()}


def _unique(names: list[str], kind: str) -> None:
    doubles = sorted({name for name in names if names.count(name) > 1})
    if doubles:
        raise ValueError(f"{kind} registered twice: {doubles}")


_unique([a.category for a in AGGREGATES], "categories")
_unique([n for a in AGGREGATES for n in a.commands], "command types")
_unique([n for a in AGGREGATES for n in a.events], "event types")


def command_hubs(setting: SettingGetter) -> dict[StreamCategory, str]:
    """Each aggregate's command hub under a deployment's settings: the publishers' routes."""
    return {a.category: setting(a.hub_setting) for a in AGGREGATES}


def split_stream_id(value: str) -> tuple[str, str]:
    """`quote-Q1` -> (`quote`, `Q1`); a ValueError for a stream id of no known category."""
    match = STREAM_PATTERN.match(value)
    if match is None:
        raise ValueError(f"not a stream id: {value!r}")
    return match.group(1), match.group(2)


def command_name(command: Message | type[Message]) -> str:
    """The stored `commandType` of a command or its class: a class may be renamed, this name
    stays, and so do the ids derived from it."""
    cls = command if isinstance(command, type) else type(command)
    if cls not in _COMMAND_NAMES:
        raise ValueError(f"{cls.__name__} is not a registered command")
    return _COMMAND_NAMES[cls]


def command_category(command_type: str) -> StreamCategory:
    """The aggregate a command type targets; a ValueError for an unknown type."""
    if command_type not in COMMAND_TYPES:
        raise ValueError(f"unknown command type {command_type!r}")
    return COMMAND_TYPES[command_type][0]


def make_command(
    command: Message,
    *,
    command_id: str,
    correlation_id: str,
    causation_id: str,
    issued_at: datetime,
    traceparent: str | None = None,
) -> CommandEnvelope:
    """Wrap a command for the wire, addressed to its target aggregate."""
    name = command_name(command)
    target = getattr(command, BY_CATEGORY[COMMAND_TYPES[name][0]].target_field)
    return CommandEnvelope(
        commandId=command_id,
        commandType=name,
        aggregateId=target,
        correlationId=correlation_id,
        causationId=causation_id,
        issuedAt=issued_at,
        traceparent=traceparent,
        data=command.model_dump(mode="json"),
    )


def read_command(envelope: CommandEnvelope) -> Message:
    """The typed command inside an envelope; Unprocessable if it is of no known type, not
    valid, or addressed to another aggregate than its own."""
    if envelope.commandType not in COMMAND_TYPES:
        raise Unprocessable(f"unknown command type {envelope.commandType!r}")
    category, cls = COMMAND_TYPES[envelope.commandType]
    try:
        command = cls.model_validate(envelope.data)
    except ValidationError as error:
        raise Unprocessable(f"{envelope.commandType} is not valid: {error}") from error
    target = getattr(command, BY_CATEGORY[category].target_field)
    if target != envelope.aggregateId:
        raise Unprocessable(f"aggregateId {envelope.aggregateId!r} does not match {target!r}")
    return command
