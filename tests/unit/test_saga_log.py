"""The saga's story in the log: a line per transition, from which status to which, on what,
with the reason; the structured fields Application Insights gets with it."""

from __future__ import annotations

import logging
import random
from datetime import timedelta
from decimal import Decimal

import pytest

from application.saga_log import log_transitions
from application.saga_step import SagaOutcome, saga_event
from domain import saga
from tests.support.builders import ACCEPTED_PREMIUM, OVER_LIMIT_PREMIUM, underwriting_refusal
from tests.support.world import World

pytestmark = pytest.mark.unit


def saga_lines(caplog, level=logging.INFO) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "quoting.orchestrator" and r.levelno == level and "saga" in r.msg
    ]


def run(world: World, caplog, premium: Decimal, quote_id: str = "Q1") -> list[logging.LogRecord]:
    world.quotes.create("C1", premium, quote_id)
    world.quotes.approve(quote_id)
    with caplog.at_level(logging.INFO, logger="quoting.orchestrator"):
        world.pump(random.Random(1), redeliver=0.0)
    return saga_lines(caplog)


def test_a_saga_that_completes_logs_each_transition_in_order(caplog):
    records = run(World(), caplog, ACCEPTED_PREMIUM)
    assert [r.getMessage().split(" eventId=")[0] for r in records] == [
        "saga new -> Running at CreatePolicy on QuoteApproved correlationId=Q1",
        "saga Running -> Running at UpdateCustomerPolicyCount on PolicyCreated correlationId=Q1",
        "saga Running -> Completed on CustomerPolicyCountUpdated correlationId=Q1",
    ]
    started = records[0].custom_dimensions
    assert (started["sagaEvent"], started["sagaStatus"], started["step"]) == (
        "SagaStarted", "Running", "CreatePolicy",
    )  # fmt: skip
    assert started["commands"].startswith("CreatePolicy:")


def test_a_compensation_is_logged_with_its_reason_in_the_text_and_as_a_field(caplog):
    records = run(World(), caplog, OVER_LIMIT_PREMIUM)
    reason = underwriting_refusal()
    texts = [r.getMessage().split(" correlationId=")[0] for r in records]
    assert texts[1:] == [
        f"saga Running -> Compensating at RejectQuote on PolicyCreationFailed: {reason}",
        f"saga Compensating -> Compensated on QuoteRejected: {reason}",
    ]
    assert [r.custom_dimensions.get("reason") for r in records] == [None, reason, reason]


def test_a_redelivered_event_is_logged_as_a_redelivery_not_as_a_second_transition(caplog):
    world = World()
    world.quotes.create("C1", ACCEPTED_PREMIUM, "Q1")
    world.quotes.approve("Q1")
    [approved] = [e.to_document() for _, e in world.store.read_all()
                  if e.eventType == "QuoteApproved"]  # fmt: skip
    world.orchestrator.process_documents([approved])
    with caplog.at_level(logging.INFO, logger="quoting.orchestrator"):
        world.orchestrator.process_documents([approved])
    [record] = saga_lines(caplog)
    assert record.getMessage().startswith(
        "saga already Running on QuoteApproved (a redelivery) correlationId=Q1"
    )
    assert record.custom_dimensions["commands"].startswith("CreatePolicy:")  # sent again


def test_an_event_the_saga_ignores_is_logged_only_at_debug(caplog):
    world = World()
    world.quotes.create("C1", ACCEPTED_PREMIUM, "Q1")
    [created] = [e.to_document() for _, e in world.store.read_all()]
    with caplog.at_level(logging.DEBUG, logger="quoting.orchestrator"):
        world.orchestrator.process_documents([created])
    assert saga_lines(caplog) == []
    [record] = saga_lines(caplog, logging.DEBUG)
    assert record.getMessage() == "saga unchanged by QuoteCreated correlationId=Q1"


def test_a_time_out_is_a_warning_naming_the_step_and_its_deadline(caplog):
    world = World()
    world.quotes.create("C1", ACCEPTED_PREMIUM, "Q1")
    world.quotes.approve("Q1")
    world.orchestrator.process_documents([e.to_document() for _, e in world.store.read_all()])
    world.publisher.drain()  # CreatePolicy is lost
    deadline = world.views.get("Q1").view.model_dump(mode="json")["saga"]["deadline"]
    with caplog.at_level(logging.INFO, logger="quoting.orchestrator"):
        world.orchestrator.expire(world.clock.now + timedelta(minutes=6))
    [record] = saga_lines(caplog, logging.WARNING)
    assert record.getMessage().startswith(
        "saga Running -> Compensating at RejectQuote on StepTimedOut: "
        f"step CreatePolicy passed its deadline {deadline} correlationId=Q1"
    )


def test_several_events_of_one_input_are_chained_each_from_the_status_before_it(caplog):
    world = World()
    run(world, caplog, ACCEPTED_PREMIUM)
    events = tuple((e, saga_event(e)) for e in world.store.read_stream("saga-Q1"))
    outcome = SagaOutcome(saga.initial_state, len(events), events, saga.initial_state)
    logger = logging.getLogger("quoting.test")
    with caplog.at_level(logging.INFO, logger="quoting.test"):
        log_transitions(logger, logging.INFO, "Q1", outcome, "a test")
    heads = [r.getMessage().split(" at ")[0].split(" on ")[0] for r in caplog.records
             if r.name == "quoting.test"]  # fmt: skip
    assert heads == ["saga new -> Running", "saga Running -> Running", "saga Running -> Completed"]


def test_an_input_that_changes_nothing_is_a_debug_line_with_the_sagas_status(caplog):
    from application.saga_log import log_transitions
    from application.saga_step import SagaOutcome
    from domain.saga import SagaState, SagaStatus

    logger = logging.getLogger("quoting.test-saga-log")
    outcome = SagaOutcome(SagaState(quoteId="Q1", status=SagaStatus.RUNNING), 1, ())
    with caplog.at_level(logging.DEBUG, logger="quoting.test-saga-log"):
        log_transitions(logger, logging.INFO, "Q1", outcome, "PolicyCancelled")
    [record] = caplog.records
    assert record.levelno == logging.DEBUG
    assert record.getMessage().startswith("saga unchanged by PolicyCancelled")
    assert record.custom_dimensions["sagaStatus"] == "Running"
