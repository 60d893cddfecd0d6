"""How the saga events of one input are built: command ids uuid5(input id, registered command
name), deadlines one step time-out after the input, the input's trace carried on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from domain import codec
from domain.errors import InconsistentStream
from domain.messages import (
    CancelPolicy,
    CommandEnvelope,
    RejectQuote,
)
from domain.registry import Command, command_name, make_command
from domain.saga_commands import command_id_for
from domain.saga_events import (
    INPUT_NAMES,
    CancelRequested,
    SagaCompensationStarted,
    SagaEvent,
    SagaInput,
    SagaRules,
    SagaState,
    SagaStatus,
    Step,
    StepTimedOut,
)

T = TypeVar("T")


def started(state: SagaState, value: T | None) -> T:
    """A value SagaStarted records; a saga past its start without one has a broken stream."""
    if value is None:
        raise InconsistentStream(f"saga {state.quoteId} is {state.status} but never started")
    return value


def trigger_name(inp: SagaInput) -> str:
    """The registered name of an input (a saga event's triggerType), never its class name."""
    if isinstance(inp.payload, StepTimedOut | CancelRequested):
        return INPUT_NAMES[type(inp.payload)]
    return codec.event_name(inp.payload)


class StepBuilder:
    """Builds the saga events of one input: deterministic command ids and deadlines."""

    def __init__(self, state: SagaState, inp: SagaInput, rules: SagaRules) -> None:
        self.state, self.inp, self.rules = state, inp, rules

    def waiting_on(self, step: Step) -> bool:
        return self.state.status is SagaStatus.RUNNING and self.state.step == step

    def cancel_policy(self, reason: str) -> CancelPolicy:
        policy_id = started(self.state, self.state.policyId)
        return CancelPolicy(policyId=policy_id, quoteId=self.inp.quote_id, reason=reason)

    def compensate(self, reason: str, undo: list[Command]) -> SagaEvent:
        return self.to(
            SagaCompensationStarted,
            SagaStatus.COMPENSATING,
            Step.REJECT_QUOTE,
            self.rejecting(reason, undo),
            reason=reason,
        )

    def rejecting(self, reason: str, undo: list[Command]) -> list[Command]:
        """Undo, then reject the quote: the last step of every compensation."""
        return [*undo, RejectQuote(quoteId=self.inp.quote_id, reason=reason)]

    def to(
        self,
        kind: type[SagaEvent],
        status: SagaStatus,
        step: Step | None,
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
            triggerType=trigger_name(self.inp),
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
        return make_command(
            command,
            command_id=command_id_for(self.inp.input_id, command_name(command)),
            correlation_id=self.inp.quote_id,
            causation_id=self.inp.input_id,
            issued_at=self.inp.at,
            traceparent=self.inp.traceparent,
        )
