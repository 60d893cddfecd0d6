"""The registry of aggregates: stored names, stream ids and settings stay the contract they were
before it; rules come from each aggregate's own settings; routing refuses what is unregistered."""

from __future__ import annotations

import typing

import pytest

from adapters.memory import InMemoryEventStore
from application.commands import CommandHandler, Rules
from bootstrap import DEFAULTS, Settings, rules_from
from domain import codec, registry
from domain.customer import CustomerRules
from domain.errors import Unprocessable
from domain.messages import ApproveQuote, CreateQuote, QuoteCreated
from domain.policy import UnderwritingRules
from domain.registry import CUSTOMER, POLICY, QUOTE, make_command
from domain.saga import SagaRules
from tests.support.world import FakeClock

pytestmark = pytest.mark.unit

# Stored before the registry existed: renaming a class must never change one of these.
STORED_COMMANDS = {
    "CreateQuote": "quote",
    "ApproveQuote": "quote",
    "RejectQuote": "quote",
    "CreatePolicy": "policy",
    "CancelPolicy": "policy",
    "UpdateCustomerPolicyCount": "customer",
    "RemoveCustomerPolicy": "customer",
}
STORED_EVENTS = {
    "QuoteCreated": 2,
    "QuoteApproved": 1,
    "QuoteRejected": 1,
    "PolicyCreated": 1,
    "PolicyCreationFailed": 1,
    "PolicyCancelled": 1,
    "CustomerPolicyCountUpdated": 1,
    "CustomerPolicyCountUpdateFailed": 1,
    "CustomerPolicyRemoved": 1,
}


def test_the_stored_command_and_event_names_are_those_stored_before_the_registry():
    # A new aggregate adds names; none stored before may change its aggregate or go away, and
    # an event's schema version only grows, with an upcaster from each older version.
    commands = {n: c for n, (c, _) in registry.COMMAND_TYPES.items()}
    assert {n: commands.get(n) for n in STORED_COMMANDS} == STORED_COMMANDS
    events = {n: v for n, (_, v) in registry.EVENT_TYPES.items()}
    assert set(STORED_EVENTS) <= set(events)
    for name, stored in STORED_EVENTS.items():
        assert events[name] >= stored, name
        assert all((name, v) in codec.UPCASTERS for v in range(1, events[name])), name


def test_stream_ids_hubs_and_consumer_groups_keep_their_names():
    assert {"quote", "policy", "customer", "saga"} <= set(registry.CATEGORIES)
    assert registry.split_stream_id("customer-C-1") == ("customer", "C-1")
    assert registry.split_stream_id("saga-Q-1") == ("saga", "Q-1")
    names = {a.hub_setting: DEFAULTS[a.hub_setting] for a in registry.AGGREGATES}
    names |= {
        a.consumer_group_setting: DEFAULTS[a.consumer_group_setting] for a in registry.AGGREGATES
    }
    assert (
        names.items()
        >= {
            "QUOTE_COMMANDS_HUB": "quote-commands",
            "POLICY_COMMANDS_HUB": "policy-commands",
            "CUSTOMER_COMMANDS_HUB": "customer-commands",
            "QUOTE_CONSUMER_GROUP": "quote-handler",
            "POLICY_CONSUMER_GROUP": "policy-handler",
            "CUSTOMER_CONSUMER_GROUP": "customer-handler",
        }.items()
    )
    assert registry.command_hubs(DEFAULTS.__getitem__).items() >= {
        "quote": "quote-commands", "policy": "policy-commands", "customer": "customer-commands",
    }.items()  # fmt: skip


def test_each_aggregates_rules_come_from_its_own_settings():
    settings = Settings({"UNDERWRITING_PREMIUM_LIMIT": "50", "MAX_ACTIVE_POLICIES": "1"})
    rules = rules_from(settings)
    assert rules.of(POLICY).premium_limit == 50
    assert rules.of(CUSTOMER).max_active_policies == 1
    assert rules.of(QUOTE) is None


def test_an_aggregates_default_rules_are_its_settings_defaults():
    defaults = Rules()
    assert defaults.of(POLICY) == UnderwritingRules()
    assert defaults.of(CUSTOMER) == CustomerRules()
    given = defaults.with_rules(CUSTOMER, CustomerRules(max_active_policies=0))
    assert given.of(CUSTOMER).max_active_policies == 0
    assert given.of(POLICY) == UnderwritingRules()
    assert given.saga == SagaRules()


def test_a_message_that_is_no_registered_command_is_refused_by_name():
    with pytest.raises(ValueError, match="QuoteCreated is not a registered command"):
        make_command(
            QuoteCreated(quoteId="Q1", customerId="C1", premium=10),
            command_id="c1",
            correlation_id="Q1",
            causation_id="t",
            issued_at=FakeClock()(),
        )


def test_a_command_handled_as_another_aggregates_is_refused():
    envelope = make_command(
        CreateQuote(quoteId="Q1", customerId="C1", premium=10),
        command_id="c1",
        correlation_id="Q1",
        causation_id="t",
        issued_at=FakeClock()(),
    )
    handler = CommandHandler(InMemoryEventStore(), FakeClock())
    with pytest.raises(Unprocessable, match="CreateQuote is not a policy command"):
        handler.handle_as(POLICY, envelope)
    decision = handler.handle_as(QUOTE, envelope)
    assert decision.state is not None
    assert decision.state.customerId == "C1"


def envelope(command, n: int):
    return make_command(
        command, command_id=f"c{n}", correlation_id="Q1", causation_id="t", issued_at=FakeClock()()
    )


def test_state_of_reads_the_aggregate_it_is_given():
    handler = CommandHandler(InMemoryEventStore(), FakeClock())
    assert handler.state_of(QUOTE, "Q1") is None
    handler.handle(envelope(CreateQuote(quoteId="Q1", customerId="C1", premium=10), 1))
    handler.handle(envelope(ApproveQuote(quoteId="Q1"), 2))
    quote = handler.state_of(QUOTE, "Q1")
    assert quote is not None
    assert quote.status == "Approved"
    assert handler.state_of(CUSTOMER, "Q1") is None  # another stream: customer-Q1


def test_the_command_and_domain_event_types_are_exactly_the_registered_ones():
    # The saga is typed by DomainEvent: an event registered but left out of the union would
    # pass mypy and reach the saga's assert_never at run time.
    commands = {cls for a in registry.AGGREGATES for cls in a.commands.values()}
    events = {cls for a in registry.AGGREGATES for cls, _ in a.events.values()}
    assert set(typing.get_args(registry.Command)) == commands, "add it to registry.Command"
    assert set(typing.get_args(registry.DomainEvent)) == events, "add it to registry.DomainEvent"
