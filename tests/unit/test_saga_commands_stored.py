"""A saga event stores its commands lean (domain/saga_commands.py) and reads them back whole:
the same ids, causes, times and traces as decided, on every path; events stored before, with
whole commands, read as they were written."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from functools import reduce

import pytest

from application.saga_step import saga_event
from domain import codec, saga
from domain.errors import Unprocessable
from domain.messages import CommandEnvelope, EventEnvelope, document_id
from tests.unit.test_saga_names import PATHS

pytestmark = pytest.mark.unit


def trace(n: int) -> str:
    """A W3C traceparent (55 characters), one per input."""
    return f"00-{n + 1:032x}-{n + 1:016x}-01"


def walk(path: str) -> list[tuple[saga.SagaEvent, EventEnvelope]]:
    """The path's saga events, each with its input's own trace, and how each is stored."""
    state, recorded = saga.initial_state, []
    for n, step in enumerate(PATHS[path]):
        given = replace(step(state) if callable(step) else step, traceparent=trace(n))
        for event in saga.decide(state, given):
            recorded.append((event, stored(event, len(recorded) + 1, given.traceparent)))
            state = saga.evolve(state, event)
    return recorded


def stored(event: saga.SagaEvent, sequence: int, traceparent: str | None) -> EventEnvelope:
    """As the DecisionRunner stores it: the input's trace on the envelope."""
    name, version, data = codec.encode(event)
    return envelope(name, version, data, sequence, traceparent, event.triggerId)


def envelope(
    name: str, version: int, data: dict, sequence: int, traceparent: str | None, cause: str
) -> EventEnvelope:
    return EventEnvelope(
        id=document_id("saga-Q1", sequence),
        streamId="saga-Q1",
        sequenceNumber=sequence,
        eventId=f"e{sequence}",
        eventType=name,
        schemaVersion=version,
        timestamp="2026-01-01T00:10:00Z",
        correlationId="Q1",
        causationId=cause,
        traceparent=traceparent,
        data=json.loads(json.dumps(data)),  # what a store gives back
    )


@pytest.mark.parametrize("path", PATHS)
def test_every_saga_event_reads_back_the_very_commands_it_decided(path):
    for event, envelope in walk(path):
        assert saga_event(envelope) == event
        assert saga_event(envelope).commands == event.commands


def test_a_command_of_the_events_own_input_stores_only_its_type_time_and_unsaid_data():
    [(started, at_start), (_, at_advance), _] = walk("completed")

    assert at_start.data["commands"] == [
        {"commandType": "CreatePolicy", "issuedAt": "2026-01-01T00:00:00Z", "data": {}}
    ]  # the saga start says the policy, quote, customer and premium
    assert at_advance.data["commands"] == [
        {
            "commandType": "UpdateCustomerPolicyCount",
            "issuedAt": "2026-01-01T00:01:00Z",
            "data": {"customerId": "C1", "policyId": saga.policy_id_for("Q1")},
        }
    ]
    assert started.commands[0].traceparent == trace(0) == at_start.traceparent


def test_a_command_of_another_schema_version_keeps_its_version_when_stored():
    [(started, _), *_] = walk("completed")
    newer = started.model_copy(
        update={"commands": (started.commands[0].model_copy(update={"schemaVersion": 2}),)}
    )
    name, version, data = codec.encode(newer)

    assert data["commands"][0]["schemaVersion"] == 2
    read = saga_event(envelope(name, version, data, 1, trace(0), newer.triggerId))
    assert read.commands[0].schemaVersion == 2
    assert read == newer


def test_a_retried_command_keeps_the_id_cause_and_trace_of_the_input_that_issued_it():
    events = walk("timed-out-counting-then-retried")
    (first, at_first), (retried, at_retry) = events[-2:]

    assert isinstance(retried, saga.SagaCompensationRetried)
    assert retried.commands == first.commands  # the very same commands, sent again
    for kept, command in zip(at_retry.data["commands"], first.commands, strict=True):
        assert kept["commandId"] == command.commandId
        assert kept["causationId"] == command.causationId == first.triggerId
        assert kept["traceparent"] == command.traceparent == at_first.traceparent
    assert at_retry.traceparent != at_first.traceparent


def test_a_saga_start_with_a_real_trace_is_stored_in_well_under_a_kilobyte():
    [(_, at_start), *_] = walk("completed")
    # As the cost report measures a batch operation (json.dumps), with the event's command key.
    document = {**at_start.to_document(), "commandKey": f"{at_start.causationId}:1"}

    assert len(json.dumps(document).encode()) <= 900


# As the saga stored events before commands were lean (SagaStarted v2, the others v1): whole
# commands. The retry's commands were issued by an earlier input under another trace (and one
# by an input without a trace at all): they read with their own, not the envelope's.
TRACE_A, TRACE_B = trace(0), trace(1)
CREATE_POLICY = {
    "commandId": "85650eee-1f57-5d64-a5c9-c40bb26616fe", "commandType": "CreatePolicy",
    "aggregateId": "P1", "correlationId": "Q1", "causationId": "e-approved",
    "issuedAt": "2026-01-01T00:00:00Z", "schemaVersion": 1, "traceparent": TRACE_A,
    "data": {"policyId": "P1", "quoteId": "Q1", "customerId": "C1", "premium": "100.00"},
}  # fmt: skip
WHOLE_STARTED = {
    "quoteId": "Q1", "triggerId": "e-approved", "triggerType": "QuoteApproved",
    "status": "Running", "step": "CreatePolicy", "deadline": "2026-01-01T00:05:00Z",
    "commands": [CREATE_POLICY], "reason": None, "customerId": "C1", "premium": "100.00",
    "policyId": "P1",
}  # fmt: skip
CANCEL_POLICY = {
    "commandId": "941ced15-e574-5406-9ad2-99d7972a5264", "commandType": "CancelPolicy",
    "aggregateId": "P1", "correlationId": "Q1", "causationId": "t-1",
    "issuedAt": "2026-01-01T00:06:00Z", "schemaVersion": 1, "traceparent": None,
    "data": {"policyId": "P1", "quoteId": "Q1", "reason": "timed out"},
}  # fmt: skip
WHOLE_RETRIED = {
    "quoteId": "Q1", "triggerId": "t-2", "triggerType": "StepTimedOut",
    "status": "Compensating", "step": "RejectQuote", "deadline": "2026-01-01T00:12:00Z",
    "commands": [CANCEL_POLICY], "reason": "timed out",
}  # fmt: skip


def test_a_saga_start_stored_with_whole_commands_reads_them_as_written():
    old = envelope("SagaStarted", 2, WHOLE_STARTED, 1, TRACE_A, "e-approved")

    assert saga_event(old).commands == (CommandEnvelope.model_validate(CREATE_POLICY),)


def test_an_older_retry_reads_its_commands_with_their_own_cause_and_trace_not_its_envelopes():
    old = envelope("SagaCompensationRetried", 1, WHOLE_RETRIED, 4, TRACE_B, "t-2")
    [command] = saga_event(old).commands

    assert command == CommandEnvelope.model_validate(CANCEL_POLICY)
    assert (command.causationId, command.traceparent) == ("t-1", None)


def test_every_saga_event_stored_whole_reads_as_its_lean_self():
    for event, lean in walk("cancelled-counting"):
        whole = envelope(lean.eventType, lean.schemaVersion - 1, event.model_dump(mode="json"),
                         lean.sequenceNumber, lean.traceparent, event.triggerId)  # fmt: skip
        assert saga_event(whole) == saga_event(lean) == event


@pytest.mark.parametrize(
    "spoil",
    [
        lambda c: c.pop("commandType"),
        lambda c: c.update(commandType="RenewPolicy"),
        lambda c: c.update(data="P1"),
        lambda c: c.pop("issuedAt"),
        lambda c: c.pop("data"),
    ],
    ids=["no type", "unknown type", "data of no shape", "no time", "no data"],
)
def test_a_stored_command_of_no_known_shape_is_unprocessable_not_a_crash(spoil):
    [(_, at_start), *_] = walk("completed")
    data = copy.deepcopy(at_start.data)
    spoil(data["commands"][0])
    spoiled = at_start.model_copy(update={"data": data})

    with pytest.raises(Unprocessable, match=r"^SagaStarted e1: "):
        saga_event(spoiled)


def test_a_stored_command_without_a_field_the_event_lacks_too_reads_without_it():
    # As a command stored before its type gained a field with a default would: left out, not
    # taken from the event (which does not have it) and not refused.
    [_, (_, advanced), *_] = walk("completed")
    data = copy.deepcopy(advanced.data)
    del data["commands"][0]["data"]["policyId"]

    [command] = saga_event(advanced.model_copy(update={"data": data})).commands

    assert command.commandType == "UpdateCustomerPolicyCount"
    assert (sorted(command.data), command.data["quoteId"]) == (["customerId", "quoteId"], "Q1")


def test_the_saga_state_folded_from_stored_events_is_the_decided_one():
    for path in PATHS:
        recorded = walk(path)
        decided = reduce(saga.evolve, (e for e, _ in recorded), saga.initial_state)
        read = reduce(saga.evolve, (saga_event(s) for _, s in recorded), saga.initial_state)
        assert read == decided
