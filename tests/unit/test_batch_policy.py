"""The one batch policy, for both the command inbox and the orchestrator: error kind x attempt
x position in the batch -> processed, retried (the batch raises) or parked, counts included."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass

import pytest

from adapters.memory import (
    InMemoryCommandPublisher,
    InMemoryDeadLetterStore,
    InMemoryEventStore,
    InMemoryViewStore,
)
from application.batches import BatchReport, RetryBatch
from application.commands import CommandHandler
from application.deciding import DecisionRunner
from application.inbox import CommandInbox
from application.orchestration import Orchestrator
from application.ports import TransientFailure
from application.saga_step import SagaStep
from domain.errors import Unprocessable
from domain.messages import ApproveQuote, CreateQuote
from domain.registry import make_command
from domain.saga import SagaRules
from tests.support.builders import ACCEPTED_PREMIUM
from tests.support.world import FakeClock
from triggers.retries import is_final_attempt

pytestmark = pytest.mark.unit

KINDS = {
    "unprocessable": lambda: Unprocessable("too large to ever fit"),  # as BatchTooLarge
    "transient": lambda: TransientFailure("store unavailable"),
    "unexpected": lambda: KeyError("a bug"),
}
ATTEMPTS = {"first": 0, "middle": 2, "final": 5}  # retry_count, of max_retry_count 5
POSITIONS = {"first": 0, "middle": 1, "last": 3}  # of 4 messages: first, middle followed by more
TABLE = list(itertools.product(KINDS, ATTEMPTS, POSITIONS))


def expected(kind: str, attempt: str) -> str:
    if kind == "unprocessable" or attempt == "final":
        return "parked"
    return "retried"


@dataclass
class Retry:
    retry_count: int
    max_retry_count: int = 5


@dataclass
class Context:
    retry_context: Retry


class FailingStore:
    """An event store whose appends to one stream raise `error`."""

    def __init__(self, stream: str, error: Exception) -> None:
        self.inner, self.stream, self.error = InMemoryEventStore(), stream, error

    def read_stream(self, stream_id, after=0):
        return self.inner.read_stream(stream_id, after)

    def append(self, stream_id, expected_version, events, command_id):
        if stream_id == self.stream:
            raise self.error
        return self.inner.append(stream_id, expected_version, events, command_id)


def deliver(receive, batch, attempt: str) -> tuple[str, BatchReport, list[Exception]]:
    final = is_final_attempt(Context(Retry(ATTEMPTS[attempt])))
    try:
        return "parked-or-processed", receive(batch, final_attempt=final), []
    except RetryBatch as retry:  # a TransientFailure: what makes the trigger retry
        return "retried", retry.report, retry.failures


def check_letter(letters, kind: str, attempt: str, error: Exception, payload: str) -> None:
    [letter] = letters
    assert letter.payload == payload
    if kind == "unprocessable":
        assert letter.reason.endswith(str(error))
    else:
        assert letter.reason.endswith(f"failed after the last retry: {error!r}")


def test_a_batch_to_retry_is_a_transient_failure():
    assert issubclass(RetryBatch, TransientFailure)


@pytest.mark.parametrize(("kind", "attempt", "position"), TABLE)
def test_the_inbox_processes_retries_or_parks_by_error_kind_attempt_and_position(
    kind, attempt, position
):
    clock, letters, error = FakeClock(), InMemoryDeadLetterStore(), KINDS[kind]()
    bad = POSITIONS[position]
    store = FailingStore(f"quote-Q{bad}", error)
    inbox = CommandInbox(CommandHandler(store, clock), letters, clock, "quote-commands")
    bodies = [
        make_command(
            CreateQuote(quoteId=f"Q{i}", customerId="C1", premium=ACCEPTED_PREMIUM),
            command_id=f"create-Q{i}",
            correlation_id=f"Q{i}",
            causation_id="test",
            issued_at=clock(),
        ).model_dump_json()
        for i in range(4)
    ]

    verdict, report, failures = deliver(inbox.receive, bodies, attempt)

    outcome = expected(kind, attempt)
    assert (verdict == "retried") is (outcome == "retried")
    assert failures == ([error] if outcome == "retried" else [])
    parked = 1 if outcome == "parked" else 0
    assert (report.processed, report.dead_lettered, report.skipped) == (3, parked, 0)
    for i in range(4):  # every other message, before and after the bad one, was handled
        assert bool(store.read_stream(f"quote-Q{i}")) is (i != bad)
    if outcome == "parked":
        check_letter(letters.list(), kind, attempt, error, bodies[bad])
        assert letters.list()[0].reason.startswith(f"CreateQuote create-Q{bad}: ")
    else:
        assert letters.list() == []


def approvals(clock: FakeClock) -> list[dict]:
    """The QuoteApproved documents of four quotes, as the change feed delivers them."""
    store = InMemoryEventStore()
    handler = CommandHandler(store, clock)
    for i in range(4):
        for command in (
            CreateQuote(quoteId=f"Q{i}", customerId="C1", premium=ACCEPTED_PREMIUM),
            ApproveQuote(quoteId=f"Q{i}"),
        ):
            handler.handle(
                make_command(
                    command,
                    command_id=f"{type(command).__name__}-Q{i}",
                    correlation_id=f"Q{i}",
                    causation_id="test",
                    issued_at=clock(),
                )
            )
    return [e.to_document() for _, e in store.read_all() if e.eventType == "QuoteApproved"]


@pytest.mark.parametrize(("kind", "attempt", "position"), TABLE)
def test_the_orchestrator_processes_retries_or_parks_by_error_kind_attempt_and_position(
    kind, attempt, position
):
    clock, letters, error = FakeClock(), InMemoryDeadLetterStore(), KINDS[kind]()
    bad = POSITIONS[position]
    store = FailingStore(f"saga-Q{bad}", error)
    publisher = InMemoryCommandPublisher()
    orchestrator = Orchestrator(
        SagaStep(DecisionRunner(store, clock), SagaRules()),
        publisher,
        InMemoryViewStore(),
        letters,
        clock,
        origin="events",
    )
    receipts = [{"id": f"receipt:{i}", "docType": "receipt"} for i in range(2)]
    documents = [receipts[0], *approvals(clock), receipts[1]]

    verdict, report, failures = deliver(orchestrator.process_documents, documents, attempt)

    outcome = expected(kind, attempt)
    assert (verdict == "retried") is (outcome == "retried")
    assert failures == ([error] if outcome == "retried" else [])
    parked = 1 if outcome == "parked" else 0
    assert (report.processed, report.dead_lettered, report.skipped) == (3, parked, 2)
    published = sorted(c.correlationId for c in publisher.commands)
    assert published == [f"Q{i}" for i in range(4) if i != bad]  # the others' steps were sent
    assert [e.correlationId for e in publisher.events] == [f"Q{i}" for i in range(4) if i != bad]
    if outcome == "parked":
        bad_document = documents[1 + bad]
        check_letter(letters.list(), kind, attempt, error, json.dumps(bad_document, sort_keys=True))
    else:
        assert letters.list() == []


def test_a_batch_to_retry_names_how_many_failed_and_the_first_failure():
    retry = RetryBatch(BatchReport(), [TransientFailure("down"), KeyError("k")])
    assert str(retry) == "2 message(s) failed, first: TransientFailure('down')"
    assert (retry.report, len(retry.failures)) == (BatchReport(), 2)
