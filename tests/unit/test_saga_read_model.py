"""What the saga query reads from a view: when the saga started, when it last changed, its last
reason and the customer, derived from the timeline whatever order the events arrive in; and
the continuation tokens of a page."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from application.ports import PageKey, ViewQuery
from application.read_model import QuoteView
from application.sagas import InvalidQuery, decode_continuation, encode_continuation, summary
from application.views import apply_event, apply_saga, empty_view, matches, utc_text
from domain import messages as m
from domain.saga_events import SagaStarted, SagaState, SagaStatus
from tests.support.builders import ACCEPTED_PREMIUM
from tests.unit.test_views import T0, envelope, stored

pytestmark = pytest.mark.unit


def saga_entry(sequence: int, event_type: str, reason: str | None = None, **data) -> tuple:
    return envelope("saga-Q1", sequence, event_type, {"reason": reason, **data}), object()


def state(status: SagaStatus = SagaStatus.RUNNING) -> SagaState:
    return SagaState(status=status, step="CreatePolicy", deadline=T0, policyId="P1")


def fold(view: QuoteView, *entries: tuple) -> QuoteView:
    for env, event in entries:
        view = apply_event(view, env, event)
    return view


STARTED = saga_entry(1, "SagaStarted")
FAILED = saga_entry(2, "SagaCompensationStarted", "policy creation failed: too big")
COMPENSATED = saga_entry(3, "SagaCompensated")


def test_a_saga_records_when_it_started_when_it_last_changed_and_its_last_reason():
    view = apply_saga(fold(empty_view("Q1"), STARTED, FAILED, COMPENSATED), state(), 3)

    assert stored(view)["saga"]["startedAt"] == utc_text(T0 + timedelta(seconds=1))
    assert stored(view)["saga"]["updatedAt"] == utc_text(T0 + timedelta(seconds=3))
    assert stored(view)["saga"]["reason"] == "policy creation failed: too big"


def test_only_the_saga_events_up_to_the_recorded_version_count():
    view = apply_saga(fold(empty_view("Q1"), STARTED, FAILED), state(), 1)

    assert stored(view)["saga"]["updatedAt"] == utc_text(T0 + timedelta(seconds=1))
    assert "reason" not in stored(view)["saga"]


def test_a_saga_event_arriving_after_a_newer_one_still_gives_its_reason():
    newer_first = apply_saga(fold(empty_view("Q1"), STARTED, COMPENSATED), state(), 3)
    assert "reason" not in stored(newer_first)["saga"]  # the timeline cannot tell it yet

    late = apply_saga(fold(newer_first, FAILED), state(), 2)  # an older version: state kept

    assert stored(late)["saga"]["version"] == 3
    assert stored(late)["saga"]["reason"] == "policy creation failed: too big"


def test_a_view_whose_timeline_lacks_the_start_has_no_start_time():
    view = apply_saga(fold(empty_view("Q1"), COMPENSATED), state(), 3)

    assert "startedAt" not in stored(view)["saga"]
    assert not matches(view, ViewQuery(started_from=T0 - timedelta(days=1)))
    assert matches(view, ViewQuery())


def test_applying_the_same_saga_state_twice_changes_nothing():
    view = apply_saga(fold(empty_view("Q1"), STARTED), state(), 1)

    assert apply_saga(view, state(), 1) is view


def test_the_customer_is_recorded_from_the_quote_or_the_saga_whichever_comes_first():
    created = m.QuoteCreated(quoteId="Q1", customerId="C1", premium=ACCEPTED_PREMIUM)
    approved = m.QuoteApproved(quoteId="Q1", customerId="C1", premium=ACCEPTED_PREMIUM)
    started = SagaStarted(quoteId="Q1", triggerId="t", triggerType="QuoteApproved",
                          status=SagaStatus.RUNNING, customerId="C2",
                          premium=ACCEPTED_PREMIUM,
                          policyId="P1")  # fmt: skip
    for event, event_type in ((created, "QuoteCreated"), (approved, "QuoteApproved")):
        env = envelope("quote-Q1", 1, event_type, event.model_dump())
        assert apply_event(empty_view("Q1"), env, event).customerId == "C1"
    view = apply_event(empty_view("Q1"), envelope("saga-Q1", 1, "SagaStarted", {}), started)
    assert (view.customerId, view.quote) == ("C2", None)


def test_start_times_in_any_offset_become_one_fixed_width_utc_text():
    plus_two = timezone(timedelta(hours=2))
    assert utc_text(datetime(2026, 1, 1, 14, 0, tzinfo=plus_two)) == (
        "2026-01-01T12:00:00.000000+00:00"
    )
    assert utc_text(datetime(2026, 1, 1, 12, 0)) == "2026-01-01T12:00:00.000000+00:00"


@pytest.mark.parametrize(
    "key", [PageKey(utc_text(T0), "Q-1"), PageKey(None, "Q.2"), PageKey(utc_text(T0), "é")]
)
def test_a_continuation_stands_for_the_key_it_was_made_of(key):
    token = encode_continuation(key)

    assert decode_continuation(token) == key
    assert not set("=+/") & set(token)  # safe in a URL as it is


@pytest.mark.parametrize(
    "token", ["", "%%%", "bnVsbA", "W10", "WzEsMl0", "WyJ4IiwiUTEiXQ", "W251bGwsMV0", "e30"]
)
def test_a_token_this_code_did_not_make_is_an_invalid_continuation(token):
    # null, [], [1,2], ["x","Q1"], [null,1], {}
    with pytest.raises(InvalidQuery) as raised:
        decode_continuation(token)

    assert raised.value.parameter == "continuation"
    assert str(raised.value) == "continuation is not a token a previous page returned"


def test_a_summary_of_an_ended_saga_has_no_step_and_is_never_stuck():
    view = apply_saga(fold(empty_view("Q1"), STARTED), state(SagaStatus.COMPENSATED), 1)

    row = summary(view, T0 + timedelta(days=1))

    assert (row.status, row.step, row.stuck) == (SagaStatus.COMPENSATED, None, False)
    assert row.startedAt == T0 + timedelta(seconds=1)
