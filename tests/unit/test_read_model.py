"""The typed quote view reads every document the stores hold and writes it back as it was:
the stored JSON is the contract, whatever the model's types."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from application.ports import ViewQuery
from application.quotes import ShownQuote
from application.read_model import QuoteView
from application.views import apply_event, apply_saga, empty_view, is_due, matches, page_key
from domain.messages import QuoteCreated
from domain.quote import QuoteStatus
from domain.saga_events import SagaState, SagaStatus
from tests.contract.view_store_contract import OLDER, as_written_now
from tests.support.builders import ACCEPTED_PREMIUM, event
from triggers import openapi

pytestmark = pytest.mark.unit

# A view as the orchestrator stored it while views were dicts (json.dumps of what
# application/views.py built then: a quote approved and its saga started).
STORED = (
    '{"id": "Q1", "docType": "quote-view", "quote": {"quoteId": "Q1", "policyId": null, '
    '"customerId": "C1", "premium": 100.0, "status": "Approved"}, "saga": {"status": "Running", '
    '"step": "CreatePolicy", "deadline": "2026-01-01T00:05:00.004000+00:00", '
    '"policyId": "521e516a-1902-57ac-900f-26e448c7c44b", "version": 1, '
    '"startedAt": "2026-01-01T00:00:00.005000+00:00", '
    '"updatedAt": "2026-01-01T00:00:00.005000+00:00"}, "timeline": [{"eventId": '
    '"0b3e3109-df84-5bc8-b652-81a9ba6aa305", "eventType": "QuoteCreated", "streamId": '
    '"quote-Q1", "sequenceNumber": 1, "timestamp": "2026-01-01T00:00:00.002000+00:00", '
    '"reason": null}, {"eventId": "2bb3dd6f-0e6c-5553-923b-6af0ae29ce0e", "eventType": '
    '"QuoteApproved", "streamId": "quote-Q1", "sequenceNumber": 2, "timestamp": '
    '"2026-01-01T00:00:00.004000+00:00", "reason": null}, {"eventId": '
    '"910f6ec6-9db8-5949-abe4-99ca7ac97728", "eventType": "SagaStarted", "streamId": '
    '"saga-Q1", "sequenceNumber": 1, "timestamp": "2026-01-01T00:00:00.005000+00:00", '
    '"reason": null}], "customerId": "C1"}'
)

# OLDER (the contract suite's): written before views recorded customerId and the saga's story,
# with a quote whose creation had not been projected, times in other offsets, no fraction.


def test_a_view_stored_while_views_were_dicts_loads_and_dumps_to_the_same_json():
    view = QuoteView.model_validate_json(STORED)
    now = as_written_now(json.loads(STORED))  # a float premium is written as its text now

    assert now["quote"]["premium"] == "100.0"
    assert view.model_dump(mode="json") == now
    assert json.loads(view.model_dump_json()) == now
    assert QuoteView.model_validate(view.model_dump(mode="json")) == view


def test_a_stored_view_reads_as_the_domains_types():
    view = QuoteView.model_validate_json(STORED)

    assert view.quote is not None
    assert view.saga is not None
    assert (view.quote.status, view.saga.status) == (QuoteStatus.APPROVED, SagaStatus.RUNNING)
    assert view.saga.deadline == datetime(2026, 1, 1, 0, 5, 0, 4000, tzinfo=UTC)
    assert view.saga.startedAt == datetime(2026, 1, 1, 0, 0, 0, 5000, tzinfo=UTC)
    assert view.timeline[0].timestamp == datetime(2026, 1, 1, 0, 0, 0, 2000, tzinfo=UTC)


def test_an_older_view_keeps_its_missing_fields_missing_and_its_times_as_written():
    view = QuoteView.model_validate(OLDER)

    assert view.model_dump(mode="json") == as_written_now(OLDER)  # no null where one was absent
    assert view.customerId is None
    assert view.saga is not None
    assert view.saga.startedAt is None
    assert view.quote is not None
    assert view.quote.premium is None


def test_an_older_view_without_a_start_matches_no_date_range_and_pages_last():
    view = QuoteView.model_validate(OLDER)

    assert not matches(view, ViewQuery(started_from=datetime(2000, 1, 1, tzinfo=UTC)))
    assert matches(view, ViewQuery(status="Compensating"))
    assert page_key(view).started_at is None
    assert is_due(view, datetime(2024, 6, 1, 11, 30, tzinfo=UTC))  # 13:30+02:00 is 11:30 UTC
    assert not is_due(view, datetime(2024, 6, 1, 11, 29, tzinfo=UTC))


def test_a_saga_without_a_version_counts_as_version_zero():
    stored = {**OLDER, "saga": {k: v for k, v in OLDER["saga"].items() if k != "version"}}
    view = QuoteView.model_validate(stored)
    running = SagaState(status=SagaStatus.RUNNING, step="CreatePolicy")

    assert view.saga is not None
    assert view.saga.version == 0
    advanced = apply_saga(view, running, 1).saga  # version 1 is newer than a missing one
    assert advanced is not None
    assert (advanced.status, advanced.version) == (SagaStatus.RUNNING, 1)


def test_fields_a_newer_version_wrote_are_kept_on_the_way_back():
    stored = json.loads(STORED)
    stored["riskScore"] = 7
    stored["saga"]["attempts"] = 2
    stored["timeline"][0]["actor"] = "ops"

    assert QuoteView.model_validate(stored).model_dump(mode="json") == as_written_now(stored)


def test_a_new_start_time_is_written_as_fixed_width_utc_text_whatever_its_offset():
    plus_two = timezone(timedelta(hours=2))
    view = QuoteView.model_validate(json.loads(STORED))
    assert view.saga is not None
    moved = view.saga.model_copy(update={"startedAt": datetime(2026, 1, 1, 2, 0, tzinfo=plus_two)})

    assert moved.model_dump(mode="json")["startedAt"] == "2026-01-01T00:00:00.000000+00:00"


def test_a_timeline_entry_without_a_reason_is_stored_without_one_and_reads_as_none():
    created = event("quote-Q1", 1, event_type="QuoteCreated", data={"quoteId": "Q1"})
    rejected = event("quote-Q1", 2, event_type="QuoteRejected", data={"reason": "too risky"})
    view = apply_event(apply_event(empty_view("Q1"), created, None), rejected, None)

    stored = view.model_dump(mode="json")
    assert [sorted(set(e) - ENTRY_KEYS) for e in stored["timeline"]] == [[], ["reason"]]
    assert json.loads(view.model_dump_json()) == stored  # the stores write model_dump_json
    back = QuoteView.model_validate(stored)
    assert [e.reason for e in back.timeline] == [None, "too risky"]
    assert back.model_dump(mode="json") == stored


def test_the_api_shows_a_view_stored_without_nulls_with_its_nulls_as_before():
    created = event("quote-Q1", 1, event_type="QuoteCreated", data={"quoteId": "Q1"})
    terms = QuoteCreated(quoteId="Q1", customerId="C1", premium=ACCEPTED_PREMIUM)
    lean = QuoteView.model_validate(apply_event(empty_view("Q1"), created, terms).model_dump())
    older = QuoteView.model_validate_json(STORED)
    for shown in (lean, older):
        assert shown.quote is not None
        body = openapi.quote_view(ShownQuote(shown.quote, shown.saga, shown.timeline))
        answer = json.loads(body.model_dump_json())
        assert answer["quote"]["policyId"] is None
        assert all(entry["reason"] is None for entry in answer["timeline"])
    assert "policyId" not in lean.model_dump(mode="json")["quote"]


ENTRY_KEYS = {"eventId", "eventType", "streamId", "sequenceNumber", "timestamp"}
