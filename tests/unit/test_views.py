"""The quote read model: each apply is idempotent and order-insensitive across streams, and a
saga's state never goes backwards."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from application.read_model import QuoteView
from application.views import apply_event, apply_saga, empty_view, is_due
from domain import messages as m
from domain.saga_events import SagaState, SagaStatus
from tests.support.builders import ACCEPTED_PREMIUM

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def envelope(stream: str, sequence: int, event_type: str, data: dict) -> m.EventEnvelope:
    return m.EventEnvelope(
        id=m.document_id(stream, sequence), streamId=stream, sequenceNumber=sequence,
        eventId=f"{stream}-{sequence}", eventType=event_type, schemaVersion=1,
        timestamp=T0 + timedelta(seconds=sequence), correlationId="Q1", causationId="c",
        data=data,
    )  # fmt: skip


created = m.QuoteCreated(quoteId="Q1", customerId="C1", premium=ACCEPTED_PREMIUM)
approved = m.QuoteApproved(quoteId="Q1", customerId="C1", premium=ACCEPTED_PREMIUM)
rejected = m.QuoteRejected(quoteId="Q1", reason="no")
CREATED = (envelope("quote-Q1", 1, "QuoteCreated", created.model_dump()), created)
APPROVED = (envelope("quote-Q1", 2, "QuoteApproved", approved.model_dump()), approved)
REJECTED = (envelope("quote-Q1", 3, "QuoteRejected", rejected.model_dump()), rejected)


def fold(*entries) -> QuoteView:
    view = empty_view("Q1")
    for env, event in entries:
        view = apply_event(view, env, event)
    return view


def stored(view: QuoteView) -> dict:
    """The view's JSON as the stores write it."""
    return view.model_dump(mode="json")


def test_a_new_view_is_a_quote_view_with_nothing_in_it():
    assert stored(empty_view("Q1")) == {
        "id": "Q1", "docType": "quote-view", "quote": None, "saga": None, "timeline": [],
    }  # fmt: skip


def test_a_created_quote_shows_its_terms_status_and_no_policy_yet():
    view = fold(CREATED)
    assert stored(view)["quote"] == {  # no policy yet: no policyId (it reads as None)
        "quoteId": "Q1", "customerId": "C1", "premium": str(ACCEPTED_PREMIUM), "status": "Created",
    }  # fmt: skip
    assert view.quote is not None
    assert QuoteView.model_validate(stored(view)).quote == view.quote
    assert view.quote.policyId is None


def test_a_creation_delivered_again_after_the_approval_keeps_the_quote_approved():
    assert stored(fold(CREATED, APPROVED, CREATED))["quote"]["status"] == "Approved"


def test_an_approval_delivered_again_after_the_rejection_keeps_the_quote_rejected():
    view = stored(fold(CREATED, APPROVED, REJECTED, APPROVED))
    assert (view["quote"]["status"], view["quote"]["rejectionReason"]) == ("Rejected", "no")
    assert [entry["eventType"] for entry in view["timeline"]] == [
        "QuoteCreated", "QuoteApproved", "QuoteRejected",
    ]  # fmt: skip


def test_an_event_the_view_does_not_show_only_joins_the_timeline():
    cancelled = m.PolicyCancelled(policyId="P1", quoteId="Q1", reason="r")
    view = stored(
        fold((envelope("policy-P1", 1, "PolicyCancelled", cancelled.model_dump()), cancelled))
    )
    assert view["quote"] is None
    assert [entry["reason"] for entry in view["timeline"]] == ["r"]


def saga(status: SagaStatus | None, step: str | None = "CreatePolicy") -> SagaState:
    return SagaState(status=status, step=step, deadline=T0, policyId="P1")


def test_a_saga_state_is_recorded_with_its_version_and_never_goes_backwards():
    view = apply_saga(empty_view("Q1"), saga(SagaStatus.RUNNING), 2)
    assert stored(view)["saga"] == {
        "status": "Running", "step": "CreatePolicy", "deadline": T0.isoformat(),
        "policyId": "P1", "version": 2,
    }  # fmt: skip
    for version in (1, 2):  # older, or the same version again, changes nothing
        assert apply_saga(view, saga(SagaStatus.COMPLETED, None), version) == view
    assert apply_saga(view, saga(None), 3) == view  # no saga yet: nothing to show
    newer = apply_saga(view, saga(SagaStatus.COMPLETED, None), 3).saga
    assert newer is not None
    assert (newer.status, newer.step, newer.version) == ("Completed", None, 3)


def test_a_view_is_due_when_its_running_saga_passed_its_deadline():
    view = apply_saga(empty_view("Q1"), saga(SagaStatus.RUNNING), 1)
    assert is_due(view, T0)
    assert not is_due(view, T0 - timedelta(microseconds=1))
    assert not is_due(apply_saga(view, saga(SagaStatus.COMPLETED), 2), T0)
    assert not is_due(empty_view("Q1"), T0)
