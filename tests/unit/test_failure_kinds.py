"""Where the codec and the domain say a message can never succeed they raise Unprocessable (or
a kind of it), never a ValueError or an AssertionError; letters are known by message id."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from application.dead_letters import letter_id
from application.saga_step import saga_event
from domain import codec, quote, saga
from domain.errors import DomainError, InconsistentStream, Unprocessable
from domain.messages import (
    ApproveQuote,
    CommandEnvelope,
    EventEnvelope,
    QuoteApproved,
    QuoteRejected,
    parse_command,
)
from domain.registry import make_command, read_command
from domain.saga_events import SagaState, SagaStatus, StepTimedOut
from tests.support.builders import ACCEPTED_PREMIUM

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def stored(event_type: str, data: dict, version: int = 1, stream: str = "quote-Q1"):
    return EventEnvelope(
        id=f"{stream}:0000000001",
        streamId=stream,
        sequenceNumber=1,
        eventId="e1",
        eventType=event_type,
        schemaVersion=version,
        timestamp=T0,
        correlationId="Q1",
        causationId="c1",
        data=data,
    )


def envelope(command_type: str, data: dict, aggregate_id: str = "Q1") -> CommandEnvelope:
    return CommandEnvelope(
        commandId="c1",
        commandType=command_type,
        aggregateId=aggregate_id,
        correlationId="Q1",
        causationId="t",
        issuedAt=T0,
        data=data,
    )


def test_a_domain_refusal_is_a_kind_of_unprocessable():
    assert issubclass(DomainError, Unprocessable)
    assert issubclass(codec.UnknownEventType, Unprocessable)
    assert not issubclass(Unprocessable, ValueError)  # nothing classified by a base class
    error = Unprocessable("why")
    assert (error.reason, str(error)) == ("why", "why")


@pytest.mark.parametrize(
    ("event", "words"),
    [
        (stored("QuoteApproved", {"quoteId": "Q1"}), "QuoteApproved e1"),  # missing fields
        (stored("QuoteCreated", {"quote": "Q1"}), "QuoteCreated v1 lacks 'customer'"),
        (stored("QuoteExploded", {}), "unknown event type 'QuoteExploded'"),
        (stored("QuoteApproved", {}, version=3), "QuoteApproved v3 is newer than this code (v2)"),
    ],
)
def test_a_stored_event_that_cannot_be_decoded_is_unprocessable(event, words):
    with pytest.raises(Unprocessable) as raised:
        codec.decode(event)
    assert words in str(raised.value)


def test_a_document_or_text_that_is_no_stored_event_is_unprocessable():
    good = stored("QuoteRejected", {"quoteId": "Q1", "reason": "r"})
    assert codec.read_event(good.to_document()) == good
    assert codec.parse_event(json.dumps(good.to_document())) == good
    with pytest.raises(Unprocessable, match="not a stored event"):
        codec.read_event({"id": "x"})
    with pytest.raises(Unprocessable, match="not a stored event"):
        codec.parse_event("{not json")


@pytest.mark.parametrize(
    ("command", "words"),
    [
        (envelope("Nope", {}), "unknown command type 'Nope'"),
        (envelope("ApproveQuote", {"quoteId": "Q 1"}), "ApproveQuote is not valid"),
        (envelope("ApproveQuote", {"quoteId": "Q2"}), "aggregateId 'Q1' does not match 'Q2'"),
    ],
)
def test_a_command_that_cannot_be_read_is_unprocessable(command, words):
    with pytest.raises(Unprocessable) as raised:
        read_command(command)
    assert words in str(raised.value)


def test_a_body_that_is_no_command_envelope_is_unprocessable():
    command = make_command(
        ApproveQuote(quoteId="Q1"),
        command_id="c1",
        correlation_id="Q1",
        causation_id="t",
        issued_at=T0,
    )
    assert parse_command(command.model_dump_json().encode()) == command
    for body in (b"{not json", b'{"commandType": "Nope"}', b"\xff\xfe"):
        with pytest.raises(Unprocessable, match=r"^unparseable command: "):
            parse_command(body)


def test_an_approval_or_rejection_before_the_quote_was_created_is_an_inconsistent_stream():
    approved = QuoteApproved(quoteId="Q1", customerId="C1", premium=ACCEPTED_PREMIUM)
    rejected = QuoteRejected(quoteId="Q1", reason="r")
    for event in (approved, rejected):
        with pytest.raises(InconsistentStream, match="quote Q1 has events before its Quote"):
            quote.evolve(None, event)


@pytest.mark.parametrize(
    ("step", "policy_id"),
    [
        (saga.Step.UPDATE_CUSTOMER, None),
        (saga.Step.UPDATE_CUSTOMER, "P1"),
        (saga.Step.CREATE_POLICY, None),
    ],
)
def test_a_running_saga_that_never_started_times_out_as_an_inconsistent_stream(step, policy_id):
    broken = SagaState(
        quoteId="Q1", status=SagaStatus.RUNNING, step=step, deadline=T0, policyId=policy_id
    )
    timeout = saga.SagaInput("t1", T0, "Q1", StepTimedOut(quoteId="Q1", step=step, deadline=T0))
    with pytest.raises(InconsistentStream, match="saga Q1 is Running but never started"):
        saga.decide(broken, timeout)


@pytest.mark.parametrize("step", [saga.Step.REJECT_QUOTE, None])
def test_a_running_saga_at_no_step_it_runs_is_an_inconsistent_stream_when_undone(step):
    broken = SagaState(quoteId="Q1", status=SagaStatus.RUNNING, step=step, policyId="P1")
    cancel = saga.cancel_input("Q1", "why", "alice", T0)
    with pytest.raises(InconsistentStream, match=f"saga Q1 is running at step {step}"):
        saga.decide(broken, cancel)


def test_a_saga_stream_holding_a_domain_event_is_an_inconsistent_stream():
    event = stored("QuoteRejected", {"quoteId": "Q1", "reason": "r"}, stream="saga-Q1")
    with pytest.raises(InconsistentStream, match="saga-Q1 holds QuoteRejected"):
        saga_event(event)


def test_a_letter_is_known_by_its_message_id_or_else_by_its_raw_bytes_and_origin():
    by_id = letter_id("command", "quote-commands", "c1", b"{}")
    assert by_id == letter_id("command", "policy-commands", "c1", b'{ "other": "body" }')
    assert by_id != letter_id("event", "quote-commands", "c1", b"{}")
    raw = letter_id("command", "quote-commands", None, b"\xff")
    assert raw == letter_id("command", "quote-commands", "", b"\xff")
    assert raw != letter_id("command", "policy-commands", None, b"\xff")
    assert raw != letter_id("command", "quote-commands", None, b"\xfe")
    assert len({by_id, raw}) == 2
    # A letter parked by one version and refused again on replay by the next is one letter.
    assert letter_id("command", "o", "c1", b"") == "1fa24375-98e5-5745-999e-d7c6f774ed14"
    assert letter_id("command", "quote-commands", None, b"x") == (
        "698b8818-6720-51cd-958b-e70b29004966"
    )
