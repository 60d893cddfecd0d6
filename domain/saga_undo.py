"""How the saga gives up on a running step: the step passed its deadline, or an operator
cancelled the saga. Both undo the same things; only the reason (and who) differs."""

from __future__ import annotations

from typing import assert_never

from domain.errors import DomainError, InconsistentStream
from domain.messages import RemoveCustomerPolicy
from domain.registry import Command
from domain.saga_builder import StepBuilder, started
from domain.saga_events import (
    TERMINAL,
    CancelRequested,
    SagaCancelled,
    SagaCompensationRetried,
    SagaEvent,
    SagaState,
    SagaStatus,
    Step,
    StepTimedOut,
)

_ENDED = {
    SagaStatus.COMPLETED: "it completed (the policy is active and counted)",
    SagaStatus.COMPENSATED: "it was compensated already (the quote is rejected)",
}


def timed_out(state: SagaState, event: StepTimedOut, step: StepBuilder) -> list[SagaEvent]:
    if state.step != event.step or state.deadline != event.deadline:
        return []  # a stale time-out: the saga moved on since the timer looked
    if state.status is SagaStatus.COMPENSATING:
        # Compensating commands may have been dead-lettered: send them again, same ids.
        return [
            step.to(
                SagaCompensationRetried,
                SagaStatus.COMPENSATING,
                state.step,
                list(state.pending),
                reason=f"{event.step} timed out; retrying",
            )
        ]
    if state.status is not SagaStatus.RUNNING:
        return []
    reason = f"step {event.step} passed its deadline {event.deadline.isoformat()}"
    return [step.compensate(reason, undo(state, step, reason))]


def check_cancellable(state: SagaState, event: CancelRequested) -> None:
    """Refuse to cancel a saga that has not started (not-found) or has ended (conflict)."""
    if state.status is None:
        raise DomainError(
            "not-found",
            f"quote {event.quoteId} has no saga: it is not approved, "
            "or its saga has not started yet",
        )
    if state.status in TERMINAL:
        raise DomainError(
            "conflict",
            f"the saga of quote {event.quoteId} is {state.status}: {_ENDED[state.status]}, "
            "so there is nothing to cancel",
        )


def cancelled(state: SagaState, event: CancelRequested, step: StepBuilder) -> list[SagaEvent]:
    """A running saga undoes its step as a time-out of it would, as the operator's decision;
    a compensating one goes on with the undo under way (a failure's, a time-out's, or this
    very cancellation's when the same input was decided before)."""
    if state.status is not SagaStatus.RUNNING:
        return []
    reason = f"cancelled by {event.requestedBy}: {event.reason}"
    return [
        step.to(
            SagaCancelled,
            SagaStatus.COMPENSATING,
            Step.REJECT_QUOTE,
            step.rejecting(reason, undo(state, step, reason)),
            reason=reason,
            requestedBy=event.requestedBy,
        )
    ]


def undo(state: SagaState, step: StepBuilder, reason: str) -> list[Command]:
    """What undoes the running step and those before it: the policy is cancelled (a tombstone
    if it is not created yet), and its count on the customer once the saga asked for one."""
    match state.step:
        case Step.CREATE_POLICY:
            return [step.cancel_policy(reason)]
        case Step.UPDATE_CUSTOMER:
            cancel = step.cancel_policy(reason)
            remove = RemoveCustomerPolicy(
                customerId=started(state, state.customerId),
                policyId=cancel.policyId,
                quoteId=cancel.quoteId,
                reason=reason,
            )
            return [remove, cancel]
        case Step.REJECT_QUOTE | None:  # only a compensating or ended saga is here
            raise InconsistentStream(f"saga {state.quoteId} is running at step {state.step}")
        case _:
            assert_never(state.step)
