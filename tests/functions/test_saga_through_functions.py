"""The whole saga driven function by function through the real entry points, every trigger
batch delivered twice; poison messages and documents parked; a stuck saga timed out."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest

from application.ports import TransientFailure
from domain.messages import CreatePolicy
from domain.registry import POLICY, make_command
from tests.functions.driver import (
    HANDLERS,
    Driver,
    document_list,
    expire_stuck_sagas,
    hub_batch,
    hub_event,
    timer_tick,
)
from tests.functions.driver import orchestrate as orchestrate_fn
from tests.support.builders import ACCEPTED_PREMIUM, OVER_LIMIT_PREMIUM

pytestmark = pytest.mark.functions


def start(services, quote_id: str, customer_id: str, premium: Decimal) -> None:
    services.quotes.create(customer_id, premium, quote_id)
    services.quotes.approve(quote_id)


def timeline(services, quote_id: str) -> list[str]:
    return [entry.eventType for entry in services.quotes.view(quote_id).timeline]


def test_a_happy_saga_completes_with_its_whole_timeline(app_services):
    start(app_services, "Q1", "C1", ACCEPTED_PREMIUM)
    Driver(app_services).run_until_quiet()
    view = app_services.quotes.view("Q1")
    assert view.saga.status == "Completed"
    assert view.quote.policyId is not None
    assert timeline(app_services, "Q1") == [
        "QuoteCreated",
        "QuoteApproved",
        "SagaStarted",
        "PolicyCreated",
        "SagaAdvanced",
        "CustomerPolicyCountUpdated",
        "SagaCompleted",
    ]
    assert app_services.quotes.customer("C1").policyCount == 1
    assert not app_services.adapters.dead_letters.list()


def test_a_premium_over_the_limit_compensates_by_rejecting_the_quote(app_services):
    start(app_services, "Q2", "C1", OVER_LIMIT_PREMIUM)
    Driver(app_services).run_until_quiet()
    view = app_services.quotes.view("Q2")
    assert view.saga.status == "Compensated"
    assert view.quote.status == "Rejected"
    assert timeline(app_services, "Q2")[2:] == [
        "SagaStarted",
        "PolicyCreationFailed",
        "SagaCompensationStarted",
        "QuoteRejected",
        "SagaCompensated",
    ]
    failure = next(e for e in view.timeline if e.eventType == "PolicyCreationFailed")
    assert "underwriting limit" in failure.reason


def test_a_customer_at_the_limit_compensates_and_cancels_the_policy(app_services):
    for i in range(5):
        start(app_services, f"QF{i}", "C-full", ACCEPTED_PREMIUM)
    Driver(app_services).run_until_quiet()
    start(app_services, "Q6", "C-full", ACCEPTED_PREMIUM)
    Driver(app_services).run_until_quiet()
    view = app_services.quotes.view("Q6")
    assert view.saga.status == "Compensated"
    assert {"CustomerPolicyCountUpdateFailed", "PolicyCancelled", "QuoteRejected"} <= set(
        timeline(app_services, "Q6")
    )
    assert app_services.quotes.customer("C-full").policyCount == 5


def test_a_poison_command_is_parked_and_the_rest_of_its_batch_is_handled(
    app_services, first_attempt
):
    app_services.quotes.create("C1", ACCEPTED_PREMIUM, "Q1")
    good = make_command(
        CreatePolicy(policyId="P1", quoteId="Q1", customerId="C1", premium=ACCEPTED_PREMIUM),
        command_id="cmd-1",
        correlation_id="Q1",
        causation_id="test",
        issued_at=app_services.clock(),
    )
    batch = [
        hub_event(b"{not json", "P0"),
        hub_event(json.dumps({"commandType": "Nope"}).encode(), "P0"),
        hub_event(good.model_dump_json().encode(), "P1"),
    ]
    HANDLERS["policy"](hub_batch(batch), first_attempt)
    assert [e.eventType for e in app_services.adapters.store.read_stream("policy-P1")] == [
        "PolicyCreated"
    ]
    letters = app_services.adapters.dead_letters.list()
    assert len(letters) == 2
    assert all(letter.source == "command" and letter.reason for letter in letters)


def test_a_command_the_domain_refuses_is_parked_with_the_reason(app_services, first_attempt):
    from domain.messages import ApproveQuote

    refused = make_command(
        ApproveQuote(quoteId="missing"),
        command_id="cmd-2",
        correlation_id="missing",
        causation_id="test",
        issued_at=app_services.clock(),
    )
    HANDLERS["quote"](
        hub_batch([hub_event(refused.model_dump_json().encode(), "missing")]), first_attempt
    )
    [letter] = app_services.adapters.dead_letters.list()
    assert "does not exist" in letter.reason
    assert letter.correlationId == "missing"


def test_a_poison_document_is_parked_and_the_rest_of_its_batch_is_processed(app_services):
    start(app_services, "Q1", "C1", ACCEPTED_PREMIUM)
    driver = Driver(app_services)
    documents = driver.new_documents()
    poison = {**documents[0], "id": "quote-Q1:9", "eventType": "QuoteExploded"}
    orchestrate_fn(document_list([poison, *documents]), driver.context)
    [letter] = app_services.adapters.dead_letters.list()
    assert letter.source == "event"
    assert "QuoteExploded" in letter.reason
    assert app_services.quotes.view("Q1").saga.status == "Running"


def test_receipts_and_saga_documents_are_skipped_by_the_orchestrator(app_services):
    start(app_services, "Q1", "C1", ACCEPTED_PREMIUM)
    driver = Driver(app_services)
    driver.run_until_quiet()
    receipt = {"id": "receipt:x", "streamId": "quote-Q1", "docType": "receipt"}
    saga_docs = [e.to_document() for e in app_services.adapters.store.read_stream("saga-Q1")]
    before = app_services.adapters.publisher.commands[:]
    orchestrate_fn(document_list([receipt, *saga_docs]), driver.context)
    assert app_services.adapters.publisher.commands == before
    assert not app_services.adapters.dead_letters.list()


class FailingPublisher:
    def __init__(self, inner, failures: int) -> None:
        self.inner, self.failures = inner, failures

    def publish(self, commands, events=()):
        if self.failures and commands:
            self.failures -= 1
            raise TransientFailure("hub unavailable")
        self.inner.publish(commands, events)


def test_a_publish_that_fails_after_the_saga_recorded_its_step_loses_nothing(app_services):
    start(app_services, "Q1", "C1", ACCEPTED_PREMIUM)
    driver = Driver(app_services)
    documents = driver.new_documents()
    real = app_services.orchestrator.publisher
    app_services.orchestrator.publisher = FailingPublisher(real, failures=1)
    with pytest.raises(TransientFailure):
        orchestrate_fn(document_list(documents), driver.context)
    assert [e.eventType for e in app_services.adapters.store.read_stream("saga-Q1")] == [
        "SagaStarted"
    ]  # the saga moved on, but its command never left
    assert real.commands == []
    orchestrate_fn(document_list(documents), driver.context)  # the trigger retries the batch
    assert [c.commandType for c in real.commands] == ["CreatePolicy"]
    driver.run_until_quiet()
    assert app_services.quotes.view("Q1").saga.status == "Completed"


def test_a_failure_on_the_last_attempt_is_parked_rather_than_lost(app_services, last_attempt):
    start(app_services, "Q1", "C1", ACCEPTED_PREMIUM)
    driver = Driver(app_services)
    app_services.orchestrator.publisher = FailingPublisher(app_services.adapters.publisher, 99)
    orchestrate_fn(document_list(driver.new_documents()), last_attempt)
    letters = app_services.adapters.dead_letters.list()
    assert letters
    assert all("last retry" in letter.reason for letter in letters)


def test_events_parked_on_the_last_attempt_replayed_once_the_hub_is_back_finish_the_saga(
    app_services, last_attempt
):
    start(app_services, "Q1", "C1", ACCEPTED_PREMIUM)
    driver = Driver(app_services)
    documents = driver.new_documents()
    real = app_services.orchestrator.publisher
    app_services.orchestrator.publisher = FailingPublisher(real, 99)
    orchestrate_fn(document_list(documents), last_attempt)
    letters = {
        json.loads(x.payload)["eventType"]: x for x in app_services.adapters.dead_letters.list()
    }
    assert sorted(letters) == ["QuoteApproved", "QuoteCreated"]  # the whole batch's publish
    letter = letters["QuoteApproved"]
    assert json.loads(letter.payload) == json.loads(json.dumps(documents[1], default=str))
    app_services.orchestrator.publisher = real  # the hub is back
    for parked in letters.values():
        replayed = app_services.desk.replay(parked.id)
        assert replayed is not None
        assert replayed.replayedAt is not None
    assert [c.commandType for c in real.commands] == ["CreatePolicy"]
    assert sorted(e.eventType for e in real.events) == ["QuoteApproved", "QuoteCreated"]
    driver.run_until_quiet()
    assert app_services.quotes.view("Q1").saga.status == "Completed"
    closed = app_services.adapters.dead_letters.get(letter.id)
    assert app_services.desk.replay(letter.id) == closed  # again: nothing more happens
    assert real.commands == []


def test_a_stuck_saga_times_out_and_compensates(app_services):
    start(app_services, "Q1", "C1", ACCEPTED_PREMIUM)
    driver = Driver(app_services)
    orchestrate_fn(document_list(driver.new_documents()), driver.context)
    app_services.adapters.publisher.drain()  # the CreatePolicy command is lost in transit
    app_services.clock.advance(timedelta(minutes=6))
    expire_stuck_sagas(timer_tick(past_due=False))
    expire_stuck_sagas(timer_tick(past_due=True))  # the timer firing twice is harmless
    driver.run_until_quiet()
    view = app_services.quotes.view("Q1")
    assert view.saga.status == "Compensated"
    assert "SagaCompensationStarted" in timeline(app_services, "Q1")
    compensation = next(e for e in view.timeline if e.eventType == "SagaCompensationStarted")
    assert "deadline" in compensation.reason
    policy = app_services.commands.state_of(POLICY, view.saga.policyId)
    assert policy.status == "Cancelled"  # the tombstone: a late CreatePolicy cannot revive it


class CountingPublisher:
    def __init__(self, inner) -> None:
        self.inner, self.calls = inner, 0

    def publish(self, commands, events=()):
        self.calls += 1
        self.inner.publish(commands, events)


def test_a_change_feed_batch_is_published_in_one_call(app_services):
    for quote_id in ("Q1", "Q2", "Q3"):
        start(app_services, quote_id, "C1", ACCEPTED_PREMIUM)
    driver = Driver(app_services)
    counting = CountingPublisher(app_services.orchestrator.publisher)
    app_services.orchestrator.publisher = counting
    orchestrate_fn(document_list(driver.new_documents()), driver.context)
    assert counting.calls == 1  # six events, three CreatePolicy commands: one publish
    published = app_services.adapters.publisher
    assert sorted(c.correlationId for c in published.commands) == ["Q1", "Q2", "Q3"]
    assert len(published.events) == 6
