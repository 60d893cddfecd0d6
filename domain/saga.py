"""The quote saga as a decider: domain events (and step time-outs) in, saga events out.

Each saga event records the commands it issues, so a redelivered input can re-publish exactly
the same commands (same ids) without deciding again. Command ids are uuid5(input id, step).
The saga's inputs, events and state are in saga_events.py; they are re-exported here so a
reader finds the whole saga under one name.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from domain.errors import InconsistentStream
from domain.messages import (
    CancelPolicy,
    Command,
    CommandEnvelope,
    CreatePolicy,
    CustomerPolicyCountUpdated,
    CustomerPolicyCountUpdateFailed,
    PolicyCreated,
    PolicyCreationFailed,
    QuoteApproved,
    QuoteRejected,
    RejectQuote,
    RemoveCustomerPolicy,
    UpdateCustomerPolicyCount,
    make_command,
)
from domain.saga_events import (
    SAGA_NAMESPACE,
    TERMINAL,
    SagaAdvanced,
    SagaCompensated,
    SagaCompensationRetried,
    SagaCompensationStarted,
    SagaCompleted,
    SagaEvent,
    SagaInput,
    SagaLateEventCompensated,
    SagaRules,
    SagaStarted,
    SagaState,
    SagaStatus,
    StepTimedOut,
    initial_state,
    policy_id_for,
    timeout_input,
)

__all__ = [
    "CREATE_POLICY",
    "REJECT_QUOTE",
    "TERMINAL",
    "UPDATE_CUSTOMER",
    "SagaAdvanced",
    "SagaCompensated",
    "SagaCompensationRetried",
    "SagaCompensationStarted",
    "SagaCompleted",
    "SagaEvent",
    "SagaInput",
    "SagaLateEventCompensated",
    "SagaRules",
    "SagaStarted",
    "SagaState",
    "SagaStatus",
    "StepTimedOut",
    "decide",
    "evolve",
    "initial_state",
    "policy_id_for",
    "timeout_input",
]

CREATE_POLICY = "CreatePolicy"
UPDATE_CUSTOMER = "UpdateCustomerPolicyCount"
REJECT_QUOTE = "RejectQuote"


def decide(state: SagaState, inp: SagaInput, rules: SagaRules = SagaRules()) -> list[SagaEvent]:
    """What the saga does about one input; [] when it is a repeat or changes nothing."""
    if inp.input_id in state.handled:
        return []
    step = _Step(state, inp, rules)
    event = inp.payload
    match event:
        case QuoteApproved():
            if state.status is not None:
                return []
            policy_id = policy_id_for(event.quoteId)
            return [
                step.to(
                    SagaStarted,
                    SagaStatus.RUNNING,
                    CREATE_POLICY,
                    [
                        CreatePolicy(
                            policyId=policy_id,
                            quoteId=event.quoteId,
                            customerId=event.customerId,
                            premium=event.premium,
                        )
                    ],
                    customerId=event.customerId,
                    premium=event.premium,
                    policyId=policy_id,
                )
            ]
        case PolicyCreated():
            if step.waiting_on(CREATE_POLICY):
                return [
                    step.to(
                        SagaAdvanced,
                        SagaStatus.RUNNING,
                        UPDATE_CUSTOMER,
                        [
                            UpdateCustomerPolicyCount(
                                customerId=event.customerId,
                                policyId=event.policyId,
                                quoteId=event.quoteId,
                            )
                        ],
                    )
                ]
            if state.status in (SagaStatus.COMPENSATING, SagaStatus.COMPENSATED) and not (
                state.cancelIssued
            ):
                # Late: the saga gave up on this policy, so the policy must not stay active.
                return [
                    step.to(
                        SagaLateEventCompensated,
                        state.status,
                        state.step,
                        [step.cancel_policy("policy created after the saga began compensating")],
                        keep_deadline=True,
                    )
                ]
            return []
        case PolicyCreationFailed():
            if step.waiting_on(CREATE_POLICY):
                return [step.compensate(event.reason, [])]
            return []
        case CustomerPolicyCountUpdated():
            # Late (after a time-out) needs nothing: RemoveCustomerPolicy was issued behind it
            # on the same customer partition, and the customer refuses a removed policy.
            if step.waiting_on(UPDATE_CUSTOMER):
                return [step.to(SagaCompleted, SagaStatus.COMPLETED, None, [])]
            return []
        case CustomerPolicyCountUpdateFailed():
            if step.waiting_on(UPDATE_CUSTOMER):
                return [step.compensate(event.reason, [step.cancel_policy(event.reason)])]
            return []
        case QuoteRejected():
            if state.status is SagaStatus.COMPENSATING:
                return [
                    step.to(SagaCompensated, SagaStatus.COMPENSATED, None, [], reason=event.reason)
                ]
            return []
        case StepTimedOut():
            return _timed_out(state, event, step)
        case _:
            # QuoteCreated, PolicyCancelled, CustomerPolicyRemoved: nothing for the saga to do.
            return []


def _timed_out(state: SagaState, event: StepTimedOut, step: _Step) -> list[SagaEvent]:
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
    cancel = step.cancel_policy(reason)
    undo: list[Command] = [cancel]
    if event.step == UPDATE_CUSTOMER:
        undo.insert(
            0,
            RemoveCustomerPolicy(
                customerId=_started(state, state.customerId),
                policyId=cancel.policyId,
                quoteId=event.quoteId,
                reason=reason,
            ),
        )
    return [step.compensate(reason, undo)]


def _started(state: SagaState, value: str | None) -> str:
    """A value SagaStarted records; a saga past its start without one has a broken stream."""
    if value is None:
        raise InconsistentStream(f"saga {state.quoteId} is {state.status} but never started")
    return value


class _Step:
    """Builds the saga events of one input: deterministic command ids and deadlines."""

    def __init__(self, state: SagaState, inp: SagaInput, rules: SagaRules) -> None:
        self.state, self.inp, self.rules = state, inp, rules

    def waiting_on(self, step: str) -> bool:
        return self.state.status is SagaStatus.RUNNING and self.state.step == step

    def cancel_policy(self, reason: str) -> CancelPolicy:
        policy_id = _started(self.state, self.state.policyId)
        return CancelPolicy(policyId=policy_id, quoteId=self.inp.quote_id, reason=reason)

    def compensate(self, reason: str, undo: list[Command]) -> SagaEvent:
        reject = RejectQuote(quoteId=self.inp.quote_id, reason=reason)
        return self.to(
            SagaCompensationStarted,
            SagaStatus.COMPENSATING,
            REJECT_QUOTE,
            [*undo, reject],
            reason=reason,
        )

    def to(
        self,
        kind: type[SagaEvent],
        status: SagaStatus,
        step: str | None,
        commands: Sequence[Command | CommandEnvelope],
        *,
        reason: str | None = None,
        keep_deadline: bool = False,
        **extra: object,
    ) -> SagaEvent:
        if keep_deadline:
            deadline = self.state.deadline
        else:
            deadline = self.inp.at + self.rules.step_timeout if step is not None else None
        return kind(
            quoteId=self.inp.quote_id,
            triggerId=self.inp.input_id,
            triggerType=type(self.inp.payload).__name__,
            status=status,
            step=step,
            deadline=deadline,
            reason=reason,
            commands=tuple(self._envelope(c) for c in commands),
            **extra,
        )

    def _envelope(self, command: Command | CommandEnvelope) -> CommandEnvelope:
        if isinstance(command, CommandEnvelope):
            return command  # a retry re-sends the very same command
        name = type(command).__name__
        return make_command(
            command,
            command_id=str(uuid.uuid5(SAGA_NAMESPACE, f"{self.inp.input_id}:{name}")),
            correlation_id=self.inp.quote_id,
            causation_id=self.inp.input_id,
            issued_at=self.inp.at,
            traceparent=self.inp.traceparent,
        )


def evolve(state: SagaState, event: SagaEvent) -> SagaState:
    update: dict[str, object] = {
        "quoteId": event.quoteId,
        "status": event.status,
        "step": event.step,
        "deadline": event.deadline,
        "handled": state.handled | {event.triggerId},
        "cancelIssued": state.cancelIssued
        or any(c.commandType == "CancelPolicy" for c in event.commands),
    }
    if event.status in TERMINAL:
        update["pending"] = ()
    elif not isinstance(event, SagaLateEventCompensated):
        update["pending"] = event.commands
    if isinstance(event, SagaStarted):
        update |= {
            "customerId": event.customerId,
            "premium": event.premium,
            "policyId": event.policyId,
        }
    return state.model_copy(update=update)
