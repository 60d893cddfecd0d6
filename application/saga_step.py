"""One step of the quote saga: given an input, record the saga's decision and return the
commands to publish — the same commands again when the input is a redelivery."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, partial

from application.deciding import Decider, DecisionRunner, Metadata
from application.ports import Outcome
from domain import codec, saga
from domain.errors import InconsistentStream
from domain.messages import CommandEnvelope, EventEnvelope, stream_id

Recorded = tuple[EventEnvelope, saga.SagaEvent]  # a saga event as stored, and decoded


@dataclass(frozen=True)
class SagaOutcome:
    state: saga.SagaState
    version: int
    # The saga events this input caused, each decoded once (for the commands, the view and
    # the log line).
    events: tuple[Recorded, ...]
    # The state those events were decided on; None when they were recorded before (a
    # redelivery returns what the first delivery decided).
    before: saga.SagaState | None = None

    @cached_property
    def commands(self) -> tuple[CommandEnvelope, ...]:
        """The commands to publish: those the saga events record (again on a redelivery)."""
        return tuple(c for _, event in self.events for c in event.commands)


class SagaStep:
    def __init__(self, runner: DecisionRunner, rules: saga.SagaRules) -> None:
        self.runner = runner
        self.decider: Decider[saga.SagaState, saga.SagaInput, saga.SagaEvent] = Decider(
            "saga", saga.initial_state, partial(saga.decide, rules=rules), saga.evolve, saga.starts
        )

    def advance(self, inp: saga.SagaInput) -> SagaOutcome:
        if not saga.concerns(inp):
            # Nothing to decide in any state, so nothing to read: an outcome that changes no
            # view (a saga of no status) and publishes nothing.
            return SagaOutcome(saga.initial_state, 0, ())
        # The input's trace on its saga events' envelopes is the trace of the commands it
        # issues: they are stored without it (domain/saga_commands.py) and read back with it.
        meta = Metadata(inp.input_id, inp.quote_id, inp.traceparent)
        decision = self.runner.run(self.decider, inp.quote_id, inp, meta)
        events = decision.events
        if decision.outcome is not Outcome.APPENDED and inp.input_id in decision.state.handled:
            # A redelivery: what was decided the first time may never have been published.
            events = tuple(
                e
                for e in self.runner.store.read_stream(stream_id("saga", inp.quote_id))
                if e.data.get("triggerId") == inp.input_id
            )
        recorded = tuple((e, saga_event(e)) for e in events)
        return SagaOutcome(decision.state, decision.version, recorded, decision.before)


def saga_event(envelope: EventEnvelope) -> saga.SagaEvent:
    """The saga event a saga stream stores; InconsistentStream if it holds anything else."""
    event = codec.decode(envelope)
    if not isinstance(event, saga.SagaEvent):
        raise InconsistentStream(f"{envelope.streamId} holds {envelope.eventType}")
    return event
