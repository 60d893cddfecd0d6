"""What the HTTP API's service answers: a quote before and after its saga is projected, and
command ids that derive from the request (so a retried request is the same command)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from application.commands import CommandHandler
from application.deciding import Decision, DecisionRunner
from application.ports import Outcome
from application.quotes import QuoteService, ShownQuote
from application.read_model import QuoteSummary, SagaProgress
from application.saga_step import SagaStep
from domain import saga
from domain.errors import InconsistentStream
from domain.messages import CreateQuote
from domain.quote import QuoteStatus
from domain.saga import SagaStatus
from tests.support.builders import ACCEPTED_PREMIUM
from tests.support.world import World

pytestmark = pytest.mark.unit


def test_a_quote_not_yet_projected_is_shown_from_its_stream_without_saga_or_timeline():
    world = World()
    world.quotes.create("C1", ACCEPTED_PREMIUM, "Q1")
    assert world.quotes.view("Q1") == ShownQuote(
        quote=QuoteSummary(quoteId="Q1", policyId=None, customerId="C1", premium=ACCEPTED_PREMIUM,
                           status=QuoteStatus.CREATED, rejectionReason=None),
        saga=None,
        timeline=(),
    )  # fmt: skip


def test_an_approved_quote_shows_the_saga_it_starts_until_the_projection_shows_the_real_one():
    world = World()
    world.quotes.create("C1", ACCEPTED_PREMIUM, "Q1")
    pending = world.quotes.approve("Q1")
    assert pending.saga == SagaProgress(status=SagaStatus.RUNNING, step="CreatePolicy")
    assert pending.projected is False
    world.orchestrator.process_documents([e.to_document() for _, e in world.store.read_all()])
    projected = world.quotes.view("Q1")
    assert projected.saga is not None
    assert (projected.saga.status, projected.saga.step, projected.projected) == (
        "Running", "CreatePolicy", True,
    )  # fmt: skip
    assert projected.saga.version == 1


def test_a_requests_command_id_never_changes_so_a_retry_on_another_version_is_a_repeat():
    world = World()
    world.quotes.create("C1", ACCEPTED_PREMIUM, "Q1")
    [created] = world.store.read_stream("quote-Q1")
    assert created.causationId == "8bad052e-066d-584c-8994-e421aec5ba95"


def test_a_requests_command_id_does_not_follow_its_class_name():
    world, name = World(), CreateQuote.__name__
    CreateQuote.__name__ = "RenamedCreateQuote"  # a type's name is a slot: set back by hand
    try:
        world.quotes.create("C1", 100.0, "Q1")
    finally:
        CreateQuote.__name__ = name
    [created] = world.store.read_stream("quote-Q1")
    assert created.causationId == "8bad052e-066d-584c-8994-e421aec5ba95"


class CountingStore:
    def __init__(self, inner) -> None:
        self.inner, self.reads = inner, 0

    def read_stream(self, stream_id, after=0):
        self.reads += 1
        return self.inner.read_stream(stream_id, after)

    def append(self, *args):
        return self.inner.append(*args)


def test_a_saga_step_uses_the_deployments_timeout_and_starts_a_saga_without_a_read():
    world = World()
    world.quotes.create("C1", ACCEPTED_PREMIUM, "Q1")
    world.quotes.approve("Q1")
    store = CountingStore(world.store)
    step = SagaStep(DecisionRunner(store, world.clock), saga.SagaRules(timedelta(seconds=30)))
    world.orchestrator.saga = step
    [approved] = [e for _, e in world.store.read_all() if e.eventType == "QuoteApproved"]
    outcome = world.orchestrator.process_event(approved, world.decoded("quote-Q1")[1])
    assert outcome.state.deadline == approved.timestamp + timedelta(seconds=30)
    # The approval opens the saga's stream (saga.starts): appended at version 0 unread, and
    # what it appended is not read back.
    assert store.reads == 0


def test_a_customers_view_with_no_quote_terms_yet_is_listed_with_none_for_them():
    # A saga event can be projected before its quote's QuoteCreated: the view has no quote yet.
    from application.read_model import QuoteView

    world = World()
    world.views.save(QuoteView(id="Q9", customerId="C1", quote=None, saga=None), None)
    [item] = world.quotes.customer_quotes("C1").items
    assert (item.quoteId, item.premium, item.quoteStatus, item.policyId) == ("Q9", None, None, None)


class Stateless(CommandHandler):
    """Decides as a stream that lost its quote would: appended, and no state after it."""

    def handle_as(self, aggregate, envelope):
        return Decision(Outcome.APPENDED, None, 1)


@pytest.mark.parametrize("request_", ["create", "approve"])
def test_a_quote_without_state_after_a_decision_is_an_inconsistent_stream_naming_it(request_):
    world = World()
    quotes = QuoteService(Stateless(world.store, world.clock, world.rules), world.views,
                          world.clock, lambda: "Q7")  # fmt: skip
    ask = {
        "create": lambda: quotes.create("C1", ACCEPTED_PREMIUM),
        "approve": lambda: quotes.approve("Q7"),
    }

    with pytest.raises(InconsistentStream, match=r"^quote Q7 has no state after a decision on it$"):
        ask[request_]()


def test_approving_again_before_anything_is_projected_shows_the_approved_quote():
    world = World()
    world.quotes.create("C1", ACCEPTED_PREMIUM, "Q1")
    world.quotes.approve("Q1")
    again = world.quotes.approve("Q1")
    assert (again.quote.quoteId, again.quote.status, again.quote.customerId) == (
        "Q1", QuoteStatus.APPROVED, "C1",
    )  # fmt: skip
    assert (again.saga, again.projected) == (
        SagaProgress(status=SagaStatus.RUNNING, step="CreatePolicy"), False,
    )  # fmt: skip


def test_approving_again_shows_the_stored_view_with_the_quote_as_decided_over_it():
    world = World()
    world.quotes.create("C1", ACCEPTED_PREMIUM, "Q1")
    world.quotes.approve("Q1")
    created = [e.to_document() for _, e in world.store.read_all() if e.eventType == "QuoteCreated"]
    world.orchestrator.process_documents(created)  # the view knows the quote only as created

    again = world.quotes.approve("Q1")

    assert again.quote.status == QuoteStatus.APPROVED
    assert [entry.eventType for entry in again.timeline] == ["QuoteCreated"]
    assert again.projected is False
