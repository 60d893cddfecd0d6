"""SagaService over the in-memory view store: what a page holds, its bounds and its token, and
the rows it makes of views, old ones included."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from adapters.memory import InMemoryViewStore
from application.ports import PageKey
from application.read_model import QuoteView
from application.sagas import (
    MAX_PAGE,
    InvalidQuery,
    SagaService,
    decode_continuation,
    encode_continuation,
    summary,
)
from application.views import utc_text
from domain.saga import SagaStatus
from tests.contract.view_store_contract import saga_view

pytestmark = pytest.mark.unit

AT = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def service() -> SagaService:
    views = InMemoryViewStore()
    for n in range(3):
        deadline = AT if n == 1 else None
        views.save(saga_view(f"Q{n}", started=AT + timedelta(seconds=n), deadline=deadline), None)
    return SagaService(views, clock=lambda: AT + timedelta(hours=1))


def ids(page) -> list[str]:
    return [item.quoteId for item in page.items]


def test_a_page_without_filters_lists_every_saga_stuck_or_not(service):
    assert ids(service.page()) == ["Q2", "Q1", "Q0"]
    assert ids(service.page(stuck=True)) == ["Q1"]


@pytest.mark.parametrize("limit", [1, MAX_PAGE])
def test_a_page_may_hold_from_one_to_the_maximum(service, limit):
    assert len(service.page(limit=limit).items) == min(limit, 3)


@pytest.mark.parametrize("limit", [0, -1, MAX_PAGE + 1])
def test_a_page_size_out_of_bounds_is_an_invalid_limit(service, limit):
    with pytest.raises(InvalidQuery) as raised:
        service.page(limit=limit)

    assert raised.value.parameter == "limit"
    assert str(raised.value) == f"limit must be an integer from 1 to {MAX_PAGE}"


def test_a_range_that_ends_before_it_starts_is_refused(service):
    with pytest.raises(InvalidQuery) as raised:
        service.page(created_from=AT + timedelta(seconds=1), created_to=AT)

    assert (raised.value.parameter, str(raised.value)) == (
        "createdFrom", "createdFrom must not be after createdTo",
    )  # fmt: skip
    assert ids(service.page(created_from=AT, created_to=AT)) == ["Q0"]


def test_the_totals_count_every_status(service):
    totals = service.totals()

    assert totals.counts == {
        SagaStatus.RUNNING: 3, SagaStatus.COMPENSATING: 0, SagaStatus.COMPLETED: 0,
        SagaStatus.COMPENSATED: 0,
    }  # fmt: skip
    assert totals.stuck == 1


def test_a_row_shows_the_deadline_and_the_policy_and_customer_wherever_the_view_has_them():
    stored = saga_view("Q1", "Running", deadline=AT).model_dump(mode="json")
    stored["saga"]["policyId"] = "P-from-saga"
    stored["quote"]["customerId"] = "C-quote"  # the view's own customerId wins

    row = summary(QuoteView.model_validate(stored), AT)

    assert (row.deadline, row.policyId, row.customerId) == (AT, "P-from-saga", "C1")
    stored["saga"]["policyId"] = None
    stored["quote"]["policyId"] = "P-from-quote"
    del stored["customerId"]  # written before views had one: the quote's is used
    older = QuoteView.model_validate(stored)
    assert (summary(older, AT).policyId, summary(older, AT).customerId) == (
        "P-from-quote", "C-quote",
    )  # fmt: skip


def test_a_row_of_a_saga_projected_before_its_quote_has_none_for_the_quotes_terms():
    stored = saga_view("Q1", "Running", deadline=AT).model_dump(mode="json")
    stored["quote"] = None

    row = summary(QuoteView.model_validate(stored), AT)

    assert (row.quoteId, row.premium, row.policyId, row.customerId) == ("Q1", None, None, "C1")


def test_a_view_without_saga_is_no_row_and_the_error_names_it():
    with pytest.raises(ValueError, match=r"^view Q9 has no saga to list$"):
        summary(QuoteView(id="Q9", saga=None), AT)


def test_a_continuation_keeps_its_format_so_tokens_survive_a_new_version():
    keys = {
        "WyIyMDI2LTAzLTAxVDA4OjAwOjAwLjAwMDAwMCswMDowMCIsIlEtMSJd": PageKey(
            "2026-03-01T08:00:00.000000+00:00", "Q-1"
        ),
        "W251bGwsIlExIl0": PageKey(None, "Q1"),  # base64 would pad it with "="
    }

    assert {encode_continuation(key): key for key in keys.values()} == keys
    assert {token: decode_continuation(token) for token in keys} == keys


def test_a_continuation_uses_the_url_safe_alphabet_both_ways():
    key = PageKey(None, "?>?>~~")  # bytes whose base64 needs a 62nd letter: + or -

    token = encode_continuation(key)

    assert "-" in token
    assert not {"+", "/", "="} & set(token)
    assert decode_continuation(token) == key


def test_a_continuation_with_a_letter_outside_the_alphabet_is_refused():
    token = encode_continuation(PageKey(None, "Q1"))

    with pytest.raises(InvalidQuery):
        decode_continuation(token[:4] + "!!!!" + token[4:])  # 4: the padding stays right


@pytest.fixture
def far_from_utc(monkeypatch):
    """A local time zone that is not UTC, so local time cannot pass for UTC."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_a_time_without_an_offset_is_utc_whatever_the_machines_zone(far_from_utc):
    assert utc_text(datetime(2026, 1, 1, 12, 0)) == "2026-01-01T12:00:00.000000+00:00"
    assert utc_text(AT) == "2026-03-01T08:00:00.000000+00:00"


class RecordingViews(InMemoryViewStore):
    def __init__(self) -> None:
        super().__init__()
        self.limits: list[int] = []

    def query(self, query):
        self.limits.append(query.limit)
        return super().query(query)


def test_a_page_reads_one_view_more_than_it_shows_and_no_more():
    views = RecordingViews()
    for n in range(5):
        views.save(saga_view(f"Q{n}", started=AT + timedelta(seconds=n)), None)

    page = SagaService(views, clock=lambda: AT).page(limit=2)

    assert ids(page) == ["Q4", "Q3"]
    assert views.limits == [3]
