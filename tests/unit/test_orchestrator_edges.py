"""The orchestrator beyond the batch table: what its parked letters and log lines hold, the
trace it passes on, time-outs, and the view it projects under contention."""

from __future__ import annotations

import json
import logging
import random
from datetime import UTC, datetime, timedelta

import pytest

from adapters.memory import InMemoryEventStore, InMemoryViewStore
from application import saga_step
from application.commands import Rules
from application.dead_letters import letter_id
from application.ports import ConcurrencyConflict
from application.read_model import QuoteView, SagaProgress
from application.replay import DeadLetterDesk
from domain.customer import CustomerRules
from domain.errors import InconsistentStream, Unprocessable
from domain.registry import CUSTOMER
from domain.saga import SagaStatus
from domain.saga_events import Step
from tests.support.builders import ACCEPTED_PREMIUM
from tests.support.world import World

pytestmark = pytest.mark.unit

TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def approved(world: World, quote_id: str, traceparent: str | None = None) -> dict:
    world.quotes.create("C1", ACCEPTED_PREMIUM, quote_id)
    world.quotes.approve(quote_id, traceparent)
    return next(
        e.to_document()
        for _, e in world.store.read_all()
        if e.eventType == "QuoteApproved" and e.correlationId == quote_id
    )


def test_the_saga_passes_the_events_trace_on_to_its_commands():
    world = World()
    world.orchestrator.process_documents([approved(world, "Q1", TRACE)])
    [create_policy] = world.publisher.commands
    assert create_policy.traceparent == TRACE
    assert [e.traceparent for e in world.store.read_stream("saga-Q1")] == [TRACE]


def test_a_parked_document_is_logged_with_its_ids_and_known_by_raw_bytes_without_an_event_id(
    caplog,
):
    world = World()
    odd = {"docType": "event", "id": "quote-Q1:x", "eventId": 7, "correlationId": 8,
           "at": datetime(2026, 1, 1, tzinfo=UTC)}  # fmt: skip
    with caplog.at_level(logging.INFO, logger="quoting.orchestrator"):
        report = world.orchestrator.process_documents([odd])
    assert (report.processed, report.dead_lettered) == (0, 1)
    [letter] = world.dead_letters.list()
    payload = json.dumps(odd, sort_keys=True, default=str)
    assert (letter.payload, letter.correlationId, letter.origin) == (payload, None, "events")
    assert letter.id == letter_id("event", "events", None, payload.encode())
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.custom_dimensions == {"correlationId": 8, "documentId": "quote-Q1:x"}


def test_a_compensation_logs_every_command_it_issues(caplog):
    world = World(rules=Rules().with_rules(CUSTOMER, CustomerRules(max_active_policies=0)))
    world.quotes.create("C1", ACCEPTED_PREMIUM, "Q1")
    world.quotes.approve("Q1")
    with caplog.at_level(logging.INFO, logger="quoting.orchestrator"):
        world.pump(random.Random(1), redeliver=0.0)
    logged = [r.custom_dimensions.get("commands", "") for r in caplog.records]
    [both] = [c for c in logged if "," in c]
    cancel, reject = both.split(",")
    assert (cancel.split(":")[0], reject.split(":")[0]) == ("CancelPolicy", "RejectQuote")
    assert world.saga_status("Q1") == "Compensated"


def test_every_saga_past_its_deadline_is_timed_out_and_counted_once(caplog):
    world = World()
    for quote_id in ("Q1", "Q2"):
        world.orchestrator.process_documents([approved(world, quote_id)])
    world.publisher.drain()  # both CreatePolicy commands are lost
    later = world.clock.now + timedelta(minutes=6)
    with caplog.at_level(logging.INFO, logger="quoting.orchestrator"):
        assert world.orchestrator.expire(later) == 2
    assert sorted(c.commandType for c in world.publisher.commands) == [
        "CancelPolicy", "CancelPolicy", "RejectQuote", "RejectQuote",
    ]  # fmt: skip
    warnings = [r.custom_dimensions for r in caplog.records if r.levelno == logging.WARNING]
    assert sorted(w["correlationId"] for w in warnings) == ["Q1", "Q2"]
    assert {w["sagaStatus"] for w in warnings} == {"Compensating"}
    assert world.orchestrator.expire(later) == 0  # compensating now, with a new deadline


class StickyStore:
    """Refuses appends to saga streams (as BatchTooLarge would) until `fixed`."""

    def __init__(self, inner: InMemoryEventStore) -> None:
        self.inner, self.fixed = inner, False

    def read_stream(self, stream_id, after=0):
        return self.inner.read_stream(stream_id, after)

    def append(self, stream_id, expected_version, events, command_id):
        if stream_id.startswith("saga-") and not self.fixed:
            raise Unprocessable("the saga's events do not fit")
        return self.inner.append(stream_id, expected_version, events, command_id)


def test_an_event_parked_before_its_saga_step_was_recorded_is_decided_on_replay():
    world = World()
    document = approved(world, "Q1")
    world.orchestrator.saga.runner.store = store = StickyStore(world.store)
    world.orchestrator.process_documents([document])
    [letter] = world.dead_letters.list()
    assert letter.reason == "the saga's events do not fit"
    store.fixed = True
    desk = DeadLetterDesk(world.dead_letters, world.commands, world.orchestrator, world.clock)
    assert desk.replay(letter.id).replayedAt is not None
    [create_policy] = world.publisher.commands
    assert create_policy.commandType == "CreatePolicy"
    assert world.saga_status("Q1") == "Running"


class ContendedViews(InMemoryViewStore):
    """Another writer changes the view before each of the first `conflicts` saves."""

    def __init__(self, conflicts: int) -> None:
        super().__init__()
        self.conflicts, self.saves = conflicts, 0

    def save(self, view, etag):
        self.saves += 1
        if self.saves <= self.conflicts:
            raise ConcurrencyConflict("changed meanwhile")
        return super().save(view, etag)


def test_a_view_write_that_conflicts_is_tried_again_up_to_eight_times():
    world = World()
    document = approved(world, "Q1")
    world.orchestrator.views = views = ContendedViews(conflicts=7)
    world.orchestrator.process_documents([document])
    assert views.saves == 8
    assert views.get("Q1").view.saga.status == "Running"
    again = World()
    again.orchestrator.views = ContendedViews(conflicts=8)
    with pytest.raises(ConcurrencyConflict, match="view Q1 kept changing under the orch"):
        again.orchestrator.process_event(*_decoded(approved(again, "Q1")))


def _decoded(document: dict):
    from domain import codec

    envelope = codec.read_event(document)
    return envelope, codec.decode(envelope)


def test_projecting_an_event_again_writes_nothing():
    world = World()
    document = approved(world, "Q1")
    world.orchestrator.views = views = ContendedViews(conflicts=0)
    world.orchestrator.process_documents([document])
    saves = views.saves
    world.orchestrator.process_documents([document])  # redelivered
    assert views.saves == saves


class BrokenSagaStore:
    """A saga stream that can no longer be decided on (as an inconsistent one cannot)."""

    def __init__(self, inner: InMemoryEventStore, stream: str) -> None:
        self.inner, self.stream = inner, stream

    def read_stream(self, stream_id, after=0):
        return self.inner.read_stream(stream_id, after)

    def append(self, stream_id, expected_version, events, command_id):
        if stream_id == self.stream:
            raise InconsistentStream(f"{stream_id} contradicts itself")
        return self.inner.append(stream_id, expected_version, events, command_id)


def test_a_saga_that_can_never_time_out_is_reported_and_does_not_hold_back_the_others(caplog):
    world = World()
    for quote_id in ("Q1", "Q2"):
        world.orchestrator.process_documents([approved(world, quote_id)])
    world.publisher.drain()
    world.orchestrator.saga.runner.store = BrokenSagaStore(world.store, "saga-Q1")
    later = world.clock.now + timedelta(minutes=6)
    with caplog.at_level(logging.INFO, logger="quoting.orchestrator"):
        assert world.orchestrator.expire(later) == 1
    assert {c.correlationId for c in world.publisher.commands} == {"Q2"}
    [error] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert error.custom_dimensions == {"correlationId": "Q1"}
    assert error.getMessage() == (
        "saga cannot time out: saga-Q1 contradicts itself correlationId=Q1"
    )  # the reason is the line's content: an operator reads it there
    assert world.saga_status("Q1") == "Running"  # still due: the next tick reports it again
    assert [v.id for v in world.views.due(later)] == ["Q1"]


class AlsoDue(InMemoryViewStore):
    """Reports `extra` views as due before its own (a store that broke due()'s promise)."""

    def __init__(self, extra: list[QuoteView]) -> None:
        super().__init__()
        self.extra = extra

    def due(self, now, limit=100):
        return [*self.extra, *super().due(now, limit)]


def test_a_view_reported_due_without_a_step_and_deadline_is_skipped_and_the_next_times_out():
    past = datetime(2025, 1, 1, tzinfo=UTC)
    world = World()
    world.orchestrator.views = AlsoDue([
        QuoteView(id="QA", saga=None),
        QuoteView(id="QB", saga=SagaProgress(status=SagaStatus.RUNNING, step=Step.CREATE_POLICY)),
        QuoteView(id="QC", saga=SagaProgress(status=SagaStatus.RUNNING, deadline=past)),
    ])  # fmt: skip
    world.orchestrator.process_documents([approved(world, "Q1")])
    world.publisher.drain()

    assert world.orchestrator.expire(world.clock.now + timedelta(minutes=6)) == 1
    assert {c.correlationId for c in world.publisher.commands} == {"Q1"}


def test_a_time_out_the_saga_has_moved_past_is_logged_as_changing_nothing(caplog):
    world = World()
    world.orchestrator.process_documents([approved(world, "Q1")])
    stale = dict(world.views._docs)  # the view as the step began
    world.inbox.receive([c.model_dump_json() for c in world.publisher.drain()])
    world.orchestrator.process_documents(
        [e.to_document() for _, e in world.store.read_all() if e.eventType == "PolicyCreated"]
    )
    world.publisher.drain()
    world.views._docs = stale  # the write after the saga's step was lost: it still says due

    with caplog.at_level(logging.DEBUG, logger="quoting.orchestrator"):
        world.orchestrator.expire(world.clock.now + timedelta(minutes=6))

    [line] = [r.getMessage() for r in caplog.records if r.name == "quoting.orchestrator"]
    assert line == "saga unchanged by StepTimedOut correlationId=Q1 sagaStatus=Running"
    assert world.publisher.commands == []


def test_each_saga_event_is_decoded_once_for_its_commands_view_and_log_lines(monkeypatch, caplog):
    world = World()
    document = approved(world, "Q1")
    decoded: list[str] = []
    decode = saga_step.codec.decode

    def counting(envelope):  # type: ignore[no-untyped-def]
        if envelope.streamId == "saga-Q1":
            decoded.append(envelope.eventId)
        return decode(envelope)

    monkeypatch.setattr(saga_step.codec, "decode", counting)
    with caplog.at_level(logging.INFO, logger="quoting.orchestrator"):
        world.orchestrator.process_documents([document])
    [started] = world.store.read_stream("saga-Q1")
    assert decoded == [started.eventId]  # not once more for the view, nor for the log line
    assert world.views.get("Q1").view.saga.status == SagaStatus.RUNNING
    assert any("saga" in r.getMessage() for r in caplog.records)
