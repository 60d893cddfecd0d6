"""The quote saga as a decider: domain events, step time-outs and an operator's cancellation
in, saga events out.

Each saga event records the commands it issues, so a redelivered input can re-publish exactly
the same commands (same ids) without deciding again. Command ids are uuid5(input id, the
command's registered name). The saga's inputs, events and state are in saga_events.py
(re-exported here, so a reader finds the whole saga under one name), how its events are built
in saga_builder.py, and how it gives up on a step (time-out, cancellation) in saga_undo.py.
"""

from __future__ import annotations

from typing import assert_never

from domain.messages import (
    CancelPolicy,
    CreatePolicy,
    CustomerPolicyCountUpdated,
    CustomerPolicyCountUpdateFailed,
    CustomerPolicyRemoved,
    PolicyCancelled,
    PolicyCreated,
    PolicyCreationFailed,
    QuoteApproved,
    QuoteCreated,
    QuoteRejected,
    UpdateCustomerPolicyCount,
)
from domain.registry import command_name
from domain.saga_builder import StepBuilder
from domain.saga_events import (
    TERMINAL,
    CancelRequested,
    SagaAdvanced,
    SagaCancelled,
    SagaCompensated,
    SagaCompensationRetried,
    SagaCompensationStarted,
    SagaCompleted,
    SagaEvent,
    SagaEventBase,
    SagaInput,
    SagaLateEventCompensated,
    SagaRules,
    SagaStarted,
    SagaState,
    SagaStatus,
    Step,
    StepTimedOut,
    cancel_input,
    initial_state,
    policy_id_for,
    timeout_input,
)
from domain.saga_undo import cancelled, check_cancellable, timed_out

__all__ = [
    "NOT_CONCERNED",
    "TERMINAL",
    "CancelRequested",
    "SagaAdvanced",
    "SagaCancelled",
    "SagaCompensated",
    "SagaCompensationRetried",
    "SagaCompensationStarted",
    "SagaCompleted",
    "SagaEvent",
    "SagaEventBase",
    "SagaInput",
    "SagaLateEventCompensated",
    "SagaRules",
    "SagaStarted",
    "SagaState",
    "SagaStatus",
    "Step",
    "StepTimedOut",
    "cancel_input",
    "concerns",
    "decide",
    "evolve",
    "initial_state",
    "policy_id_for",
    "starts",
    "timeout_input",
]


# The domain events the saga decides nothing on, in any state: the orchestrator need not read
# the saga's stream for them (a request and a query's RU per quote created, policy cancelled).
NOT_CONCERNED = (QuoteCreated, PolicyCancelled, CustomerPolicyRemoved)


def concerns(inp: SagaInput) -> bool:
    """Whether `decide` can do anything about `inp` in some state."""
    return not isinstance(inp.payload, NOT_CONCERNED)


def starts(inp: SagaInput) -> bool:
    """The input that opens a saga's stream: its quote's approval (Decider.starts)."""
    return isinstance(inp.payload, QuoteApproved)


def decide(state: SagaState, inp: SagaInput, rules: SagaRules = SagaRules()) -> list[SagaEvent]:
    """What the saga does about one input; [] when it is a repeat or changes nothing. Only a
    cancellation is ever refused: of a saga not started (not-found) or ended (conflict)."""
    event = inp.payload
    if isinstance(event, CancelRequested):
        check_cancellable(state, event)  # before the repeat check: an ended saga says so
    if inp.input_id in state.handled:
        return []
    step = StepBuilder(state, inp, rules)
    match event:
        case QuoteApproved():
            if state.status is not None:
                return []
            policy_id = policy_id_for(event.quoteId)
            return [
                step.to(
                    SagaStarted,
                    SagaStatus.RUNNING,
                    Step.CREATE_POLICY,
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
            if step.waiting_on(Step.CREATE_POLICY):
                return [
                    step.to(
                        SagaAdvanced,
                        SagaStatus.RUNNING,
                        Step.UPDATE_CUSTOMER,
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
            if step.waiting_on(Step.CREATE_POLICY):
                return [step.compensate(event.reason, [])]
            return []
        case CustomerPolicyCountUpdated():
            # Late (after a time-out) needs nothing: RemoveCustomerPolicy was issued behind it
            # on the same customer partition, and the customer refuses a removed policy.
            if step.waiting_on(Step.UPDATE_CUSTOMER):
                return [step.to(SagaCompleted, SagaStatus.COMPLETED, None, [])]
            return []
        case CustomerPolicyCountUpdateFailed():
            if step.waiting_on(Step.UPDATE_CUSTOMER):
                return [step.compensate(event.reason, [step.cancel_policy(event.reason)])]
            return []
        case QuoteRejected():
            if state.status is SagaStatus.COMPENSATING:
                return [
                    step.to(SagaCompensated, SagaStatus.COMPENSATED, None, [], reason=event.reason)
                ]
            return []
        case StepTimedOut():
            return timed_out(state, event, step)
        case CancelRequested():
            return cancelled(state, event, step)
        case QuoteCreated() | PolicyCancelled() | CustomerPolicyRemoved():
            return []  # nothing for the saga to do: NOT_CONCERNED
        case _:
            assert_never(event)


def evolve(state: SagaState, event: SagaEvent) -> SagaState:
    update: dict[str, object] = {
        "quoteId": event.quoteId,
        "status": event.status,
        "step": event.step,
        "deadline": event.deadline,
        "handled": state.handled | {event.triggerId},
        "cancelIssued": state.cancelIssued
        or any(c.commandType == command_name(CancelPolicy) for c in event.commands),
    }
    pending = event.commands
    match event:
        case SagaStarted():
            update |= {
                "customerId": event.customerId,
                "premium": event.premium,
                "policyId": event.policyId,
            }
        case SagaLateEventCompensated():
            pending = state.pending  # its undo goes out once; what the saga awaits stays
        case (
            SagaAdvanced()
            | SagaCompleted()
            | SagaCompensationStarted()
            | SagaCancelled()
            | SagaCompensationRetried()
            | SagaCompensated()
        ):
            pass  # pending: the commands it issued (none for the two that end the saga)
        case _:
            assert_never(event)
    update["pending"] = pending
    return state.model_copy(update=update)
