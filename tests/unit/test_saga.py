"""The quote saga decider: every path, repeats, late arrivals and time-outs."""

from datetime import timedelta
from functools import reduce
from typing import get_args

import pytest

from domain import saga
from domain.messages import CustomerPolicyRemoved, PolicyCancelled, QuoteCreated
from domain.saga import SagaInput, SagaStatus, policy_id_for, timeout_input
from tests.support.builders import ACCEPTED_PREMIUM
from tests.support.saga_inputs import (
    POLICY,
    T0,
    approved,
    count_failed,
    counted,
    policy_created,
    policy_failed,
    rejected,
)
from tests.support.saga_inputs import saga_input as inp

pytestmark = pytest.mark.unit

quote_rejected = rejected()


def run(*inputs: SagaInput) -> tuple[saga.SagaState, list[saga.SagaEvent]]:
    """Decide and evolve each input in turn; returns the final state and all saga events."""
    state, recorded = saga.initial_state, []
    for i in inputs:
        events = saga.decide(state, i)
        recorded += events
        state = reduce(saga.evolve, events, state)
    return state, recorded


def commands(events: list[saga.SagaEvent]) -> list[str]:
    return [c.commandType for e in events for c in e.commands]


def test_an_approved_quote_starts_the_saga_by_asking_for_a_policy():
    state, events = run(approved)
    assert [type(e) for e in events] == [saga.SagaStarted]
    assert commands(events) == ["CreatePolicy"]
    assert (state.status, state.step) == (SagaStatus.RUNNING, "CreatePolicy")
    assert (state.quoteId, state.customerId, state.premium, state.policyId) == (
        "Q1", "C1", ACCEPTED_PREMIUM, POLICY,
    )  # fmt: skip
    assert state.deadline == T0 + timedelta(minutes=5)
    [command] = events[0].commands
    assert command.aggregateId == POLICY
    assert (command.correlationId, command.causationId) == ("Q1", "e-approved")
    assert command.traceparent == "00-trace-01"


def test_the_happy_path_ends_completed():
    state, events = run(approved, policy_created, counted)
    assert commands(events) == ["CreatePolicy", "UpdateCustomerPolicyCount"]
    assert state.status is SagaStatus.COMPLETED
    assert (state.step, state.deadline, state.pending) == (None, None, ())


def test_a_refused_policy_rejects_the_quote_then_compensates():
    state, events = run(approved, policy_failed)
    assert commands(events[1:]) == ["RejectQuote"]
    assert state.status is SagaStatus.COMPENSATING
    state, events = run(approved, policy_failed, quote_rejected)
    assert state.status is SagaStatus.COMPENSATED
    assert events[-1].reason == "too big"


def test_a_refused_customer_update_cancels_the_policy_and_rejects_the_quote():
    state, events = run(approved, policy_created, count_failed)
    assert commands(events[2:]) == ["CancelPolicy", "RejectQuote"]
    assert events[2].reason == "max"
    state, _ = run(approved, policy_created, count_failed, quote_rejected)
    assert state.status is SagaStatus.COMPENSATED


def test_command_ids_derive_from_the_causing_event_and_the_step():
    _, first = run(approved, policy_created)
    _, again = run(approved, policy_created)
    assert [c.commandId for e in first for c in e.commands] == [
        c.commandId for e in again for c in e.commands
    ]
    other = inp(approved.payload, "another-event")
    _, different = run(other)
    assert different[0].commands[0].commandId != first[0].commands[0].commandId


def test_the_same_input_twice_is_decided_once():
    state, _ = run(approved)
    assert saga.decide(state, approved) == []
    state, _ = run(approved, policy_created)
    assert saga.decide(state, policy_created) == []


def test_a_second_approval_event_does_not_restart_the_saga():
    state, _ = run(approved, policy_created)
    assert saga.decide(state, inp(approved.payload, "e-approved-again")) == []


def test_events_that_do_not_concern_the_saga_change_nothing():
    created = inp(
        QuoteCreated(quoteId="Q1", customerId="C1", premium=ACCEPTED_PREMIUM), "e-created"
    )
    assert run(created) == (saga.initial_state, [])
    state, _ = run(approved)
    assert saga.decide(state, quote_rejected) == []  # a rejection it did not ask for


def test_the_inputs_the_saga_is_not_concerned_by_decide_nothing_in_any_state():
    # The orchestrator skips reading the saga for these (saga.concerns): that is only safe
    # while decide ignores them wherever the saga stands.
    paths = [
        [approved, policy_created, counted],
        [approved, policy_failed, quote_rejected],
        [approved, policy_created, count_failed, quote_rejected],
    ]
    states = [saga.initial_state]
    for path in paths:
        for n in range(1, len(path) + 1):
            states.append(run(*path[:n])[0])
    unconcerned = [
        inp(QuoteCreated(quoteId="Q1", customerId="C1", premium=ACCEPTED_PREMIUM), "e-created"),
        inp(PolicyCancelled(policyId=POLICY, quoteId="Q1", reason="undo"), "e-cancelled", 5),
        inp(CustomerPolicyRemoved(customerId="C1", policyId=POLICY, quoteId="Q1", policyCount=0),
            "e-removed", 5),
    ]  # fmt: skip
    assert {type(i.payload) for i in unconcerned} == set(saga.NOT_CONCERNED)
    for i in unconcerned:
        assert not saga.concerns(i)
        assert all(saga.decide(state, i) == [] for state in states), i.payload
    assert saga.concerns(approved)


def test_a_customer_update_arriving_while_still_creating_the_policy_is_ignored():
    state, _ = run(approved)
    assert saga.decide(state, counted) == []


def test_a_late_policy_after_compensation_without_a_cancel_is_cancelled():
    # Compensating after a refusal issued no CancelPolicy; a PolicyCreated that still shows
    # up (it cannot, by the policy decider, but the saga must not rely on that) is undone.
    state, _ = run(approved, policy_failed, quote_rejected)
    events = saga.decide(state, policy_created)
    assert [type(e) for e in events] == [saga.SagaLateEventCompensated]
    assert commands(events) == ["CancelPolicy"]
    [late] = events
    assert (late.step, late.deadline, late.triggerType) == (state.step, state.deadline,
                                                           "PolicyCreated")  # fmt: skip
    assert late.commands[0].data["reason"] == "policy created after the saga began compensating"
    assert reduce(saga.evolve, events, state).status is SagaStatus.COMPENSATED
    while_compensating, _ = run(approved, policy_failed)
    [late] = saga.decide(while_compensating, inp(policy_created.payload, "e-policy-late", 3))
    assert (late.step, late.deadline) == ("RejectQuote", while_compensating.deadline)


def test_a_late_policys_cancellation_does_not_replace_the_undo_a_time_out_sends_again():
    state, events = run(approved, policy_failed, policy_created)
    [_, compensation, late] = events
    assert isinstance(late, saga.SagaLateEventCompensated)
    assert state.pending == compensation.commands  # the RejectQuote, not the CancelPolicy
    retry = timeout_input("Q1", state.step, state.deadline, state.deadline)
    [retried] = saga.decide(state, retry)
    assert retried.commands == compensation.commands


def test_a_late_policy_after_a_compensation_that_cancelled_it_needs_nothing():
    timeout = timeout_input("Q1", "CreatePolicy", T0 + timedelta(minutes=5), T0 + timedelta(6))
    state, events = run(approved, timeout)
    assert commands(events[1:]) == ["CancelPolicy", "RejectQuote"]
    assert saga.decide(state, policy_created) == []


def test_a_late_customer_update_after_a_time_out_needs_nothing():
    deadline = policy_created.at + timedelta(minutes=5)
    timeout = timeout_input("Q1", "UpdateCustomerPolicyCount", deadline, deadline)
    state, events = run(approved, policy_created, timeout)
    assert commands(events[2:]) == ["RemoveCustomerPolicy", "CancelPolicy", "RejectQuote"]
    assert saga.decide(state, counted) == []


def test_a_time_out_of_the_current_step_compensates():
    timeout = timeout_input("Q1", "CreatePolicy", T0 + timedelta(minutes=5), T0 + timedelta(6))
    state, events = run(approved, timeout)
    assert state.status is SagaStatus.COMPENSATING
    assert "passed its deadline" in (events[1].reason or "")


def test_a_stale_time_out_is_ignored():
    stale = timeout_input("Q1", "CreatePolicy", T0 + timedelta(minutes=5), T0 + timedelta(6))
    state, _ = run(approved, policy_created)
    assert saga.decide(state, stale) == []
    state, _ = run(approved, policy_created, counted)
    assert saga.decide(state, stale) == []
    state, _ = run(approved)  # the same step, but an earlier deadline than the saga's
    earlier = timeout_input("Q1", "CreatePolicy", T0 + timedelta(minutes=4), T0 + timedelta(6))
    assert saga.decide(state, earlier) == []


def test_a_time_out_while_compensating_sends_the_same_commands_again():
    state, events = run(approved, policy_failed)
    assert state.deadline is not None
    retry = timeout_input("Q1", "RejectQuote", state.deadline, state.deadline)
    [again] = saga.decide(state, retry)
    assert isinstance(again, saga.SagaCompensationRetried)
    assert again.commands == events[1].commands
    assert again.reason == "RejectQuote timed out; retrying"
    assert again.deadline == state.deadline + timedelta(minutes=5)


def test_the_step_timeout_is_a_parameter():
    events = saga.decide(saga.initial_state, approved, saga.SagaRules(timedelta(seconds=30)))
    assert events[0].deadline == T0 + timedelta(seconds=30)


def test_the_same_time_out_twice_is_one_input():
    deadline = T0 + timedelta(minutes=5)
    a = timeout_input("Q1", "CreatePolicy", deadline, deadline)
    b = timeout_input("Q1", "CreatePolicy", deadline, deadline + timedelta(minutes=1))
    assert a.input_id == b.input_id


def test_time_outs_of_another_quote_step_or_deadline_are_other_inputs():
    deadline = T0 + timedelta(minutes=5)
    ids = {
        timeout_input(quote_id, step, at, T0).input_id
        for quote_id, step, at in [
            ("Q1", "CreatePolicy", deadline),
            ("Q2", "CreatePolicy", deadline),
            ("Q1", "RejectQuote", deadline),
            ("Q1", "CreatePolicy", deadline + timedelta(seconds=1)),
        ]
    }
    assert len(ids) == 4


def test_one_policy_id_per_quote():
    assert policy_id_for("Q1") == policy_id_for("Q1") != policy_id_for("Q2")


def test_derived_ids_never_change_so_workers_of_two_versions_agree():
    deadline = T0 + timedelta(minutes=5)
    assert policy_id_for("Q1") == "521e516a-1902-57ac-900f-26e448c7c44b"
    timeout = timeout_input("Q1", "CreatePolicy", deadline, T0)
    assert timeout.input_id == "0b946754-230f-55b6-b956-791a7e6a7fda"


def test_the_commands_of_a_saga_step_have_ids_that_never_change():
    _, events = run(approved)
    assert events[0].commands[0].commandId == "85650eee-1f57-5d64-a5c9-c40bb26616fe"


def test_every_saga_event_has_a_stored_name_and_is_a_kind_evolve_matches():
    from domain import codec

    registered = {cls for cls, _ in codec.EVENT_TYPES.values()}
    missing = [c.__name__ for c in saga.SagaEventBase.__subclasses__() if c not in registered]
    assert not missing, f"add to domain/codec.py EVENT_TYPES: {missing}"
    unmatched = set(saga.SagaEventBase.__subclasses__()) - set(get_args(saga.SagaEvent))
    assert not unmatched, f"add to domain/saga_events.py SagaEvent: {unmatched}"
