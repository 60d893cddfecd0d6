"""The quote saga's vocabulary: its inputs, statuses, events and state (decided in saga.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from domain.ids import uuid5
from domain.messages import CommandEnvelope, Message, Premium
from domain.registry import DomainEvent

SAGA_NAMESPACE = uuid.UUID("6f1c7c38-5d0e-4b55-9a53-2f1f3c0b9a11")


def policy_id_for(quote_id: str) -> str:
    """One policy per quote, by construction: its id derives from the quote's."""
    return uuid5(SAGA_NAMESPACE, f"policy:{quote_id}")


class SagaStatus(StrEnum):
    RUNNING = "Running"
    COMPENSATING = "Compensating"
    COMPLETED = "Completed"
    COMPENSATED = "Compensated"


class Step(StrEnum):
    """The steps a saga waits on, named after the command it waits to see done (stored so)."""

    CREATE_POLICY = "CreatePolicy"
    UPDATE_CUSTOMER = "UpdateCustomerPolicyCount"
    REJECT_QUOTE = "RejectQuote"


TERMINAL = frozenset({SagaStatus.COMPLETED, SagaStatus.COMPENSATED})


@dataclass(frozen=True)
class SagaRules:
    step_timeout: timedelta = timedelta(minutes=5)


class StepTimedOut(Message):
    """The step the saga waits on passed its deadline (fed by the time-out timer)."""

    quoteId: str
    step: Step
    deadline: datetime


# What an operator writes when cancelling: trimmed, never empty, short enough for a log line.
MAX_CANCEL_REASON, MAX_OPERATOR = 500, 100
CancelReason = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_CANCEL_REASON)
]
Operator = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_OPERATOR)
]


class CancelRequested(Message):
    """An operator asks the saga to stop and undo what it did (fed by the HTTP API)."""

    quoteId: str
    reason: CancelReason
    requestedBy: Operator


# The names a saga event records as its triggerType for the inputs that are not stored events
# (a domain event's is its codec name): registered, so renaming a class changes no stored name.
INPUT_NAMES: dict[type[Message], str] = {
    StepTimedOut: "StepTimedOut",
    CancelRequested: "CancelRequested",
}


@dataclass(frozen=True)
class SagaInput:
    """One thing that happened to a saga; `input_id` is the causing event's id."""

    input_id: str
    at: datetime
    quote_id: str
    payload: DomainEvent | StepTimedOut | CancelRequested
    traceparent: str | None = field(default=None, compare=False)


def timeout_input(quote_id: str, step: Step, deadline: datetime, now: datetime) -> SagaInput:
    """A time-out with an id of its own deadline, so the timer firing twice is one input."""
    input_id = uuid5(SAGA_NAMESPACE, f"timeout:{quote_id}:{step}:{deadline.isoformat()}")
    return SagaInput(
        input_id, now, quote_id, StepTimedOut(quoteId=quote_id, step=step, deadline=deadline)
    )


def cancel_input(
    quote_id: str, reason: str, requested_by: str, now: datetime, traceparent: str | None = None
) -> SagaInput:
    """A cancellation with an id of its saga alone: a saga is cancelled once, so asking again
    (a retried request, a second operator) is the same input, whatever its reason."""
    input_id = uuid5(SAGA_NAMESPACE, f"cancel:{quote_id}")
    request = CancelRequested(quoteId=quote_id, reason=reason, requestedBy=requested_by)
    return SagaInput(input_id, now, quote_id, request, traceparent)


class SagaEventBase(Message):
    """What every saga event records; a saga event is one of the kinds in `SagaEvent`."""

    quoteId: str
    triggerId: str
    triggerType: str
    status: SagaStatus
    step: Step | None = None
    deadline: datetime | None = None
    commands: tuple[CommandEnvelope, ...] = ()
    reason: str | None = None


class SagaStarted(SagaEventBase):
    customerId: str
    premium: Premium
    policyId: str


class SagaAdvanced(SagaEventBase):
    pass


class SagaCompleted(SagaEventBase):
    pass


class SagaCompensationStarted(SagaEventBase):
    pass


class SagaCancelled(SagaEventBase):
    """An operator's decision: the same undo as a time-out of the step, `reason` saying who
    and why ("cancelled by ...: ...") so every reader of saga reasons shows it as it is."""

    requestedBy: str


class SagaCompensationRetried(SagaEventBase):
    pass


class SagaCompensated(SagaEventBase):
    pass


class SagaLateEventCompensated(SagaEventBase):
    pass


# Every kind of saga event: `evolve` matches on it, so a new kind that is not evolved fails mypy.
SagaEvent = (
    SagaStarted
    | SagaAdvanced
    | SagaCompleted
    | SagaCompensationStarted
    | SagaCancelled
    | SagaCompensationRetried
    | SagaCompensated
    | SagaLateEventCompensated
)


class SagaState(BaseModel):
    model_config = ConfigDict(frozen=True)

    quoteId: str | None = None
    customerId: str | None = None
    premium: Premium | None = None
    policyId: str | None = None
    status: SagaStatus | None = None
    step: Step | None = None
    deadline: datetime | None = None
    pending: tuple[CommandEnvelope, ...] = ()
    cancelIssued: bool = False
    handled: frozenset[str] = frozenset()


initial_state = SagaState()
