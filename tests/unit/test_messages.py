"""The wire and storage rules of messages that the handlers do not show on their own."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from adapters.memory import InMemoryEventStore
from application.commands import CommandHandler, Rules
from application.streams import check_batch
from domain import codec
from domain.messages import CreatePolicy, CreateQuote, EventEnvelope
from domain.policy import UnderwritingRules
from domain.registry import POLICY, command_category, make_command, split_stream_id
from domain.saga_events import SagaStarted, SagaStatus
from tests.support.builders import ACCEPTED_PREMIUM
from tests.support.world import FakeClock

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_an_infinite_premium_is_refused_as_not_finite():
    with pytest.raises(ValidationError, match=r"Input should be a finite number \["):
        CreateQuote(quoteId="Q1", customerId="C1", premium=math.inf)


def test_unknown_stream_ids_and_command_types_are_named_in_the_error():
    assert split_stream_id("policy-P-1") == ("policy", "P-1")
    with pytest.raises(ValueError, match="not a stream id: 'invoice-1'"):
        split_stream_id("invoice-1")
    with pytest.raises(ValueError, match="unknown command type 'Nope'"):
        command_category("Nope")


def test_a_stored_saga_event_holds_json_not_python_objects():
    started = SagaStarted(quoteId="Q1", triggerId="t", triggerType="QuoteApproved",
                          status=SagaStatus.RUNNING, step="CreatePolicy", deadline=T0,
                          customerId="C1", premium=ACCEPTED_PREMIUM,
                          policyId="P1")  # fmt: skip
    name, version, data = codec.encode(started)
    assert (name, version, data["deadline"], data["status"], data["premium"]) == (
        "SagaStarted", 3, "2026-01-01T00:00:00Z", "Running", str(ACCEPTED_PREMIUM),
    )  # fmt: skip


def envelope(stream: str, sequence: int, event_id: str = "e") -> EventEnvelope:
    return EventEnvelope(id=f"{stream}:{sequence:010d}", streamId=stream, sequenceNumber=sequence,
                         eventId=event_id, eventType="QuoteCreated", schemaVersion=2,
                         timestamp=T0, correlationId="Q1", causationId="c", data={})  # fmt: skip


def test_a_batch_breaking_the_stream_rules_is_refused_with_the_rule_it_breaks():
    check_batch("quote-Q1", 0, [envelope("quote-Q1", 1)])
    cases = [
        ([], "^an append needs at least one event$"),
        ([envelope("quote-Q2", 1, "e7")], "event e7 belongs to quote-Q2, not quote-Q1"),
        ([envelope("quote-Q1", 2, "e8")], "event e8 has sequence 2, expected 1"),
    ]
    for events, message in cases:
        with pytest.raises(ValueError, match=message):
            check_batch("quote-Q1", 0, events)


def test_the_underwriting_rules_of_a_deployment_reach_the_policy():
    handler = CommandHandler(
        InMemoryEventStore(),
        FakeClock(),
        Rules().with_rules(POLICY, UnderwritingRules(ACCEPTED_PREMIUM / 2)),
    )
    create = make_command(CreatePolicy(policyId="P1", quoteId="Q1", customerId="C1",
                                       premium=ACCEPTED_PREMIUM),
                          command_id="c1", correlation_id="Q1", causation_id="t",
                          issued_at=T0)  # fmt: skip
    [event] = handler.handle(create).events
    assert event.eventType == "PolicyCreationFailed"


@given(
    stream=st.sampled_from(["quote-Q1", "saga-Q1", "policy-P\u00e9-1"]),
    data=st.dictionaries(
        st.text(max_size=8),
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(), st.lists(st.text())),
        max_size=4,
    ),
    traceparent=st.one_of(st.none(), st.text(max_size=55)),
    moment=st.datetimes(timezones=st.just(UTC)),
)
def test_a_documents_text_is_its_document(stream, data, traceparent, moment):
    e = envelope(stream, 3).model_copy(
        update={"data": data, "traceparent": traceparent, "timestamp": moment}
    )
    assert json.loads(e.document_text()) == e.to_document()
    assert list(json.loads(e.document_text())) == list(e.to_document())  # in the same order
