"""An operator's cancellation of the quote saga, given/when/then: what it undoes at each step,
and every late or duplicate arrival around it (a PolicyCreated, a time-out, a second cancel)."""

import uuid
from datetime import UTC, datetime, timedelta
from functools import reduce

import pytest
from pydantic import ValidationError

from domain import saga
from domain.messages import (
    CancelPolicy,
    CustomerPolicyCountUpdated,
    CustomerPolicyCountUpdateFailed,
    CustomerPolicyRemoved,
    PolicyCancelled,
    PolicyCreated,
    PolicyCreationFailed,
    QuoteApproved,
    QuoteRejected,
    RejectQuote,
    RemoveCustomerPolicy,
    make_command,
)
from domain.saga import SagaInput, SagaStatus, cancel_input, policy_id_for, timeout_input
from domain.saga_events import SAGA_NAMESPACE, CancelRequested
from tests.support.builders import ACCEPTED_PREMIUM
from tests.unit.spec import DeciderSpec

pytestmark = pytest.mark.unit

sagas = DeciderSpec(saga.initial_state, saga.decide, saga.evolve)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
POLICY = policy_id_for("Q1")
WHY = "cancelled by alice: customer withdrew"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def inp(payload, input_id: str, minutes: float) -> SagaInput:
    return SagaInput(input_id, at(minutes), "Q1", payload)


approved = inp(
    QuoteApproved(quoteId="Q1", customerId="C1", premium=ACCEPTED_PREMIUM), "e-approved", 0
)
policy_created = inp(
    PolicyCreated(policyId=POLICY, quoteId="Q1", customerId="C1", premium=ACCEPTED_PREMIUM),
    "e-policy",
    1,
)
policy_failed = inp(
    PolicyCreationFailed(policyId=POLICY, quoteId="Q1", customerId="C1", reason="too big"),
    "e-policy-failed",
    1,
)
counted = inp(
    CustomerPolicyCountUpdated(customerId="C1", policyId=POLICY, quoteId="Q1", policyCount=1),
    "e-counted",
    2,
)
count_failed = inp(
    CustomerPolicyCountUpdateFailed(customerId="C1", policyId=POLICY, quoteId="Q1", reason="max"),
    "e-count-failed",
    2,
)
cancel = cancel_input("Q1", "customer withdrew", "alice", at(3), TRACE)


def rejected(reason: str, minutes: float = 4) -> SagaInput:
    return inp(QuoteRejected(quoteId="Q1", reason=reason), f"e-rejected-{minutes}", minutes)


def history(*inputs: SagaInput) -> list[saga.SagaEvent]:
    """The saga events the inputs decide, in turn: the `given` of a saga."""
    state, events = saga.initial_state, []
    for i in inputs:
        new = saga.decide(state, i)
        events += new
        state = reduce(saga.evolve, new, state)
    return events


def state_after(*inputs: SagaInput) -> saga.SagaState:
    return reduce(saga.evolve, history(*inputs), saga.initial_state)


def issued(command, by: SagaInput = cancel):
    """A command as the saga issues it for `by`: id uuid5(input id, command type)."""
    name = type(command).__name__
    return make_command(
        command,
        command_id=str(uuid.uuid5(SAGA_NAMESPACE, f"{by.input_id}:{name}")),
        correlation_id="Q1",
        causation_id=by.input_id,
        issued_at=by.at,
        traceparent=by.traceparent,
    )


def cancelled(*commands) -> saga.SagaCancelled:
    return saga.SagaCancelled(
        quoteId="Q1",
        triggerId=cancel.input_id,
        triggerType="CancelRequested",
        status=SagaStatus.COMPENSATING,
        step="RejectQuote",
        deadline=at(3 + 5),
        reason=WHY,
        requestedBy="alice",
        commands=tuple(issued(c) for c in commands),
    )


def timeout_of(*inputs: SagaInput) -> SagaInput:
    """The time-out of the step the saga waits on after `inputs`, at its deadline."""
    state = state_after(*inputs)
    return timeout_input("Q1", state.step, state.deadline, state.deadline)


# --- what a cancellation undoes ------------------------------------------------------------


def test_cancelling_while_creating_the_policy_cancels_it_and_rejects_the_quote():
    sagas.given(*history(approved)).when(cancel).then(
        cancelled(
            CancelPolicy(policyId=POLICY, quoteId="Q1", reason=WHY),
            RejectQuote(quoteId="Q1", reason=WHY),
        )
    )


def test_cancelling_while_counting_the_policy_also_removes_it_from_the_customer():
    # Cancel racing a PolicyCreated, the policy first: the undo includes the policy's count.
    sagas.given(*history(approved, policy_created)).when(cancel).then(
        cancelled(
            RemoveCustomerPolicy(customerId="C1", policyId=POLICY, quoteId="Q1", reason=WHY),
            CancelPolicy(policyId=POLICY, quoteId="Q1", reason=WHY),
            RejectQuote(quoteId="Q1", reason=WHY),
        )
    )


@pytest.mark.parametrize("done", [(approved,), (approved, policy_created)], ids=["create", "count"])
def test_a_cancellation_undoes_exactly_what_a_time_out_of_the_same_step_undoes(done):
    [by_cancel] = history(*done, cancel)[len(done) :]
    [by_timeout] = history(*done, timeout_of(*done))[len(done) :]

    def undo(event):
        return [(c.commandType, c.aggregateId, {**c.data, "reason": None}) for c in event.commands]

    assert undo(by_cancel) == undo(by_timeout)
    assert (by_cancel.status, by_cancel.step) == (by_timeout.status, by_timeout.step)
    assert isinstance(by_timeout, saga.SagaCompensationStarted)


def test_the_operators_reason_and_name_are_trimmed_and_bounded():
    assert cancel_input("Q1", "  why \n", " bob ", T0).payload == CancelRequested(
        quoteId="Q1", reason="why", requestedBy="bob"
    )
    for reason, who in [("", "bob"), ("   ", "bob"), ("x" * 501, "bob"), ("why", ""),
                        ("why", "b" * 101)]:  # fmt: skip
        with pytest.raises(ValidationError):
            cancel_input("Q1", reason, who, T0)
    cancel_input("Q1", "x" * 500, "b" * 100, T0)  # the bounds themselves are accepted


# --- repeats and races ---------------------------------------------------------------------


def test_a_policy_created_after_the_cancellation_needs_nothing_more():
    # Cancel racing a PolicyCreated, the cancel first: the CancelPolicy it issued stands (the
    # policy decider cancels the created policy, or leaves a tombstone if it comes first).
    given = sagas.given(*history(approved, cancel))
    given.when(policy_created).then()
    assert given.state.cancelIssued
    assert "CancelPolicy" in [c.commandType for c in given.state.pending]


def test_a_customer_count_arriving_after_the_cancellation_needs_nothing():
    given = sagas.given(*history(approved, policy_created, cancel))
    given.when(counted).then()  # RemoveCustomerPolicy was issued behind it, same partition
    given.when(count_failed).then()


def test_the_same_cancellation_twice_is_decided_once_whoever_asks_and_why():
    given = sagas.given(*history(approved, cancel))
    given.when(cancel).then()
    again = cancel_input("Q1", "changed my mind", "bob", at(4))
    assert again.input_id == cancel.input_id
    given.when(again).then()


def test_a_time_out_of_the_cancelled_step_is_stale_afterwards():
    # Cancel racing a time-out, the cancel first: the timer looked before the saga moved on.
    late = timeout_of(approved)
    sagas.given(*history(approved, cancel)).when(late).then()
    late = timeout_of(approved, policy_created)
    sagas.given(*history(approved, policy_created, cancel)).when(late).then()


def test_a_cancellation_after_a_time_out_changes_nothing():
    # Cancel racing a time-out, the time-out first: one compensation, no second undo.
    sagas.given(*history(approved, timeout_of(approved))).when(cancel).then()
    done = (approved, policy_created)
    sagas.given(*history(*done, timeout_of(*done))).when(cancel).then()


def test_cancelling_a_saga_compensating_a_failure_changes_nothing():
    sagas.given(*history(approved, policy_failed)).when(cancel).then()
    sagas.given(*history(approved, policy_created, count_failed)).when(cancel).then()


def test_a_time_out_after_the_cancellation_sends_its_undo_again():
    given_inputs = (approved, policy_created, cancel)
    retry = timeout_of(*given_inputs)
    [cancellation] = history(*given_inputs)[2:]
    sagas.given(*history(*given_inputs)).when(retry).then(
        saga.SagaCompensationRetried(
            quoteId="Q1",
            triggerId=retry.input_id,
            triggerType="StepTimedOut",
            status=SagaStatus.COMPENSATING,
            step="RejectQuote",
            deadline=retry.at + timedelta(minutes=5),
            reason="RejectQuote timed out; retrying",
            commands=cancellation.commands,
        )
    )


def test_the_rejection_the_cancellation_asked_for_compensates_the_saga_with_its_reason():
    sagas.given(*history(approved, cancel)).when(rejected(WHY)).then(
        saga.SagaCompensated(
            quoteId="Q1",
            triggerId="e-rejected-4",
            triggerType="QuoteRejected",
            status=SagaStatus.COMPENSATED,
            reason=WHY,
        )
    )


# --- refusals ------------------------------------------------------------------------------


def test_cancelling_a_completed_saga_is_refused_as_a_conflict_that_names_its_status():
    sagas.given(*history(approved, policy_created, counted)).when(cancel).then_refused(
        "conflict", "the saga of quote Q1 is Completed: it completed"
    )


def test_cancelling_a_compensated_saga_is_refused_even_by_the_cancellation_that_ended_it():
    compensated = (approved, policy_failed, rejected("too big", 2))
    error = sagas.given(*history(*compensated)).when(cancel).then_refused("conflict")
    assert error.detail == (
        "the saga of quote Q1 is Compensated: it was compensated already (the quote is "
        "rejected), so there is nothing to cancel"
    )
    sagas.given(*history(approved, cancel, rejected(WHY))).when(cancel).then_refused(
        "conflict", "Compensated"
    )


def test_cancelling_a_saga_that_has_not_started_is_refused_as_not_found():
    error = sagas.given().when(cancel).then_refused("not-found")
    assert error.detail == (
        "quote Q1 has no saga: it is not approved, or its saga has not started yet"
    )


# --- ids and bookkeeping -------------------------------------------------------------------


def test_a_cancellations_id_derives_from_its_quote_alone_and_never_changes():
    assert cancel.input_id == "05554796-ea15-523d-ad84-1ff4cd9dd8f9"
    assert cancel_input("Q2", "customer withdrew", "alice", at(3)).input_id != cancel.input_id


def test_the_policy_cancelled_and_the_count_removed_need_nothing_from_the_saga():
    given = sagas.given(*history(approved, policy_created, cancel))
    given.when(inp(PolicyCancelled(policyId=POLICY, quoteId="Q1", reason=WHY), "e-pc", 4)).then()
    removed = CustomerPolicyRemoved(customerId="C1", policyId=POLICY, quoteId="Q1", policyCount=0)
    given.when(inp(removed, "e-removed", 4)).then()
