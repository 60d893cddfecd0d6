"""What the batch table leaves out: real refusals and unparseable bodies in mid-batch, what a
letter holds, the structured log lines, and the orchestrator's publish step failing."""

from __future__ import annotations

import json
import logging

import pytest

from adapters.memory import InMemoryEventStore
from application.dead_letters import letter_id
from application.ports import TransientFailure
from domain.errors import Unprocessable
from domain.messages import ApproveQuote, CreateQuote
from domain.registry import make_command
from tests.support.builders import ACCEPTED_PREMIUM
from tests.support.world import World

pytestmark = pytest.mark.unit


def command(payload, command_id: str, quote_id: str) -> str:
    return make_command(
        payload,
        command_id=command_id,
        correlation_id=quote_id,
        causation_id="test",
        issued_at=World().clock(),
    ).model_dump_json()


def create(quote_id: str) -> str:
    return command(
        CreateQuote(quoteId=quote_id, customerId="C1", premium=ACCEPTED_PREMIUM),
        f"c-{quote_id}",
        quote_id,
    )


def test_a_refusal_in_mid_batch_is_parked_and_every_later_command_is_handled():
    world = World()
    refused = command(ApproveQuote(quoteId="Q404"), "approve-Q404", "Q404")
    report = world.inbox.receive([create("Q1"), refused, create("Q2"), create("Q3")])
    assert (report.processed, report.dead_lettered) == (3, 1)
    assert all(world.store.read_stream(f"quote-Q{i}") for i in (1, 2, 3))
    [letter] = world.dead_letters.list()
    assert letter.reason == "ApproveQuote approve-Q404: quote Q404 does not exist"
    assert (letter.id, letter.source, letter.origin, letter.payload, letter.correlationId) == (
        letter_id("command", "commands", "approve-Q404", b""),
        "command",
        "commands",
        refused,
        "Q404",
    )


def test_an_unparseable_body_is_parked_verbatim_by_its_bytes_and_the_rest_is_handled():
    world = World()
    garbage = b"\xff{not json"
    report = world.inbox.receive([garbage, create("Q1"), "also not json"])
    assert (report.processed, report.dead_lettered) == (1, 2)
    letters = {letter.payload: letter for letter in world.dead_letters.list()}
    first = letters[garbage.decode("utf-8", errors="replace")]
    assert first.id == letter_id("command", "commands", None, garbage)
    assert first.correlationId is None
    assert first.reason.startswith("unparseable command: ")
    assert letters["also not json"].id == letter_id("command", "commands", None, b"also not json")


def test_a_handled_command_logs_its_ids_version_and_events_as_fields(caplog):
    world = World()
    with caplog.at_level(logging.INFO, logger="quoting.commands"):
        world.inbox.receive([create("Q1"), create("Q1")])  # the second is already handled
    first, repeat = [r for r in caplog.records if r.name == "quoting.commands"]
    assert first.custom_dimensions == {
        "correlationId": "Q1",
        "commandId": "c-Q1",
        "streamVersion": 1,
        "events": "QuoteCreated",
    }
    assert (first.levelno, first.correlationId, first.commandId) == (logging.INFO, "Q1", "c-Q1")
    assert repeat.custom_dimensions == {
        "correlationId": "Q1",
        "commandId": "c-Q1",
        "streamVersion": 1,
    }


class FlakyStore(InMemoryEventStore):
    def append(self, stream_id, expected_version, events, command_id):
        raise TransientFailure("store unavailable")


def test_a_transient_failure_logs_a_warning_and_a_final_park_an_error_with_the_ids(caplog):
    world = World()
    world.commands.runner.store = FlakyStore()
    with caplog.at_level(logging.INFO, logger="quoting.commands"), pytest.raises(TransientFailure):
        world.inbox.receive([create("Q1")])
    world.inbox.receive([create("Q1")], final_attempt=True)
    warning, error = [r for r in caplog.records if r.name == "quoting.commands"]
    assert (warning.levelno, error.levelno) == (logging.WARNING, logging.ERROR)
    for record in (warning, error):
        assert (record.correlationId, record.commandId) == ("Q1", "c-Q1")
    [letter] = world.dead_letters.list()
    assert letter.reason == (
        "CreateQuote c-Q1: failed after the last retry: TransientFailure('store unavailable')"
    )


def approved_documents(world: World, *quote_ids: str) -> list[dict]:
    for quote_id in quote_ids:
        world.quotes.create("C1", ACCEPTED_PREMIUM, quote_id)
        world.quotes.approve(quote_id)
    return [e.to_document() for _, e in world.store.read_all() if e.eventType == "QuoteApproved"]


def test_an_advanced_saga_logs_the_event_status_and_commands_as_fields(caplog):
    world = World()
    [document] = approved_documents(world, "Q1")
    with caplog.at_level(logging.INFO, logger="quoting.orchestrator"):
        world.orchestrator.process_documents([document])
    [record] = [r for r in caplog.records if r.name == "quoting.orchestrator"]
    [sent] = world.publisher.commands
    assert record.custom_dimensions == {
        "correlationId": "Q1",
        "eventId": document["eventId"],
        "sagaEvent": "SagaStarted",
        "sagaStatus": "Running",
        "step": "CreatePolicy",
        "commands": f"CreatePolicy:{sent.commandId}",
    }


class RefusingPublisher:
    """Refuses, as Unprocessable, any publish that holds a command for `quote_id`."""

    def __init__(self, inner, quote_id: str) -> None:
        self.inner, self.quote_id, self.calls = inner, quote_id, 0

    def publish(self, commands, events=()):
        self.calls += 1
        if any(c.correlationId == self.quote_id for c in commands):
            raise Unprocessable(f"a command of {self.quote_id} is too large")
        self.inner.publish(commands, events)


def test_an_unsendable_message_is_found_by_publishing_one_document_at_a_time():
    world = World()
    documents = approved_documents(world, "Q1", "Q2", "Q3")
    world.orchestrator.publisher = publisher = RefusingPublisher(world.publisher, "Q2")
    report = world.orchestrator.process_documents(documents)
    assert (report.processed, report.dead_lettered, publisher.calls) == (2, 1, 4)
    sent = sorted((c.correlationId, c.commandType) for c in world.publisher.commands)
    assert sent == [("Q1", "CreatePolicy"), ("Q3", "CreatePolicy")]
    forwarded = [(e.correlationId, e.eventType) for e in world.publisher.events]
    assert forwarded == [("Q1", "QuoteApproved"), ("Q3", "QuoteApproved")]
    [letter] = world.dead_letters.list()
    assert (letter.correlationId, letter.reason) == ("Q2", "a command of Q2 is too large")
    assert letter.payload == json.dumps(documents[1], sort_keys=True)
    assert letter.id == letter_id("event", "events", documents[1]["eventId"], b"")


class DownPublisher:
    def publish(self, commands, events=()):
        raise TransientFailure("hub unavailable")


def test_a_publish_failing_on_a_retry_raises_and_on_the_last_attempt_parks_every_document():
    world = World()
    documents = approved_documents(world, "Q1", "Q2")
    world.orchestrator.publisher = DownPublisher()
    with pytest.raises(TransientFailure, match="hub unavailable"):
        world.orchestrator.process_documents(documents)
    assert world.dead_letters.list() == []
    report = world.orchestrator.process_documents(documents, final_attempt=True)
    assert (report.processed, report.dead_lettered) == (0, 2)
    reasons = {letter.reason for letter in world.dead_letters.list()}
    assert reasons == {
        "publishing failed after the last retry: TransientFailure('hub unavailable')"
    }


def test_a_saga_event_stored_as_a_domain_event_is_parked_not_advanced():
    world = World()
    [document] = approved_documents(world, "Q1")
    world.orchestrator.process_documents([document])
    [saga_started] = [e.to_document() for e in world.store.read_stream("saga-Q1")]
    report = world.orchestrator.process_documents([{**saga_started, "docType": "event"}])
    assert (report.processed, report.dead_lettered) == (0, 1)
    [letter] = world.dead_letters.list()
    assert letter.reason == "SagaStarted is a saga event, not a domain event"
