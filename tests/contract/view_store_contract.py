"""The ViewStore contract: every adapter subclasses ViewStoreContract.

Hooks a subclass provides: fixture `store` (an empty store per test); class attribute `gaps`
({capability: reason}) for what it cannot offer, e.g. "due" if time-out queries are unsupported.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, ClassVar

import pytest

from application.ports import ConcurrencyConflict, SagaCounts, ViewQuery
from application.read_model import ListedView, QuoteView
from application.views import is_due, is_stuck, listed, page_key, utc_text
from tests.support.builders import ACCEPTED_PREMIUM

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def document(
    view_id: str, status: str | None = None, deadline: datetime | None = None
) -> dict[str, Any]:
    """The stored JSON of a quote view whose saga has `status` (None: no saga yet) and
    `deadline`, as the orchestrator has always written it."""
    stored: dict[str, Any] = {"id": view_id, "docType": "quote-view", "quote": None,
                              "saga": None, "timeline": []}  # fmt: skip
    if status is not None:
        stored["saga"] = {
            "status": status,
            "step": "CreatePolicy",
            "deadline": deadline.isoformat() if deadline else None,
            "policyId": None,
            "version": 1,
        }
    return stored


def view(view_id: str, status: str | None = None, deadline: datetime | None = None) -> QuoteView:
    """That document as the stores take it."""
    return QuoteView.model_validate(document(view_id, status, deadline))


# As the orchestrator wrote them while views were dicts: a saga as recorded since issue 12, and
# an older view (no customerId nor startedAt/updatedAt/reason, a quote whose creation was not
# projected, times in another offset and without a fraction).


def as_written_now(document: dict[str, Any]) -> dict[str, Any]:
    """A dict-era view as a view is written now: its float premium as the text it wrote, and
    without a null quote policyId or timeline reason (they read back as None all the same)."""
    document = dict(document)
    if document.get("quote"):
        quote = {k: v for k, v in document["quote"].items() if (k, v) != ("policyId", None)}
        if isinstance(quote.get("premium"), float):
            quote["premium"] = repr(quote["premium"])
        document["quote"] = quote
    if "timeline" in document:
        document["timeline"] = [
            {k: v for k, v in entry.items() if (k, v) != ("reason", None)}
            for entry in document["timeline"]
        ]
    return document


STORED: dict[str, Any] = {
    "id": "Q1", "docType": "quote-view",
    "quote": {"quoteId": "Q1", "policyId": None, "customerId": "C1", "premium": 100.0,
              "status": "Approved"},
    "saga": {"status": "Running", "step": "CreatePolicy",
             "deadline": "2026-01-01T00:05:00.004000+00:00", "policyId": "P1", "version": 1,
             "startedAt": "2026-01-01T00:00:00.005000+00:00",
             "updatedAt": "2026-01-01T00:00:00.005000+00:00", "reason": "why"},
    "timeline": [{"eventId": "e1", "eventType": "SagaStarted", "streamId": "saga-Q1",
                  "sequenceNumber": 1, "timestamp": "2026-01-01T00:00:00.005000+00:00",
                  "reason": None}],
    "customerId": "C1",
}  # fmt: skip
OLDER: dict[str, Any] = {
    "id": "Q-old", "docType": "quote-view",
    "quote": {"quoteId": "Q-old", "policyId": None, "status": "Rejected",
              "rejectionReason": "no"},
    "saga": {"status": "Compensating", "step": "RejectQuote",
             "deadline": "2024-06-01T13:30:00+02:00", "policyId": None, "version": 2},
    "timeline": [{"eventId": "e1", "eventType": "SagaStarted", "streamId": "saga-Q-old",
                  "sequenceNumber": 1, "timestamp": "2024-06-01T09:00:00", "reason": None}],
}  # fmt: skip


@pytest.mark.contract
class ViewStoreContract:
    """Behaviour every ViewStore must show; see the module docstring for the hooks."""

    gaps: ClassVar[dict[str, str]] = {}

    @pytest.fixture
    def store(self) -> Any:
        raise NotImplementedError("a subclass provides an empty store")

    def stored_json(self, store: Any, view_id: str) -> dict[str, Any]:
        """The view's document as the store holds it, without the store's own fields."""
        raise NotImplementedError("a subclass reads its storage, or lists `stored-json` a gap")

    def require(self, capability: str) -> None:
        if capability in self.gaps:
            pytest.skip(f"{type(self).__name__} lacks {capability}: {self.gaps[capability]}")

    def test_an_unknown_view_reads_as_none(self, store: Any) -> None:
        assert store.get("Q404") is None

    def test_a_created_view_reads_back_with_an_etag(self, store: Any) -> None:
        saved = view("Q1", "Running", NOW)

        store.save(saved, None)

        read = store.get("Q1")
        assert read is not None
        assert read.view == saved
        assert read.view.model_dump(mode="json") == document("Q1", "Running", NOW)
        assert read.etag

    @pytest.mark.parametrize("written", [STORED, OLDER], ids=["current", "older"])
    def test_a_document_written_while_views_were_dicts_is_stored_as_it_was(
        self, store: Any, written: dict[str, Any]
    ) -> None:
        self.require("stored-json")
        store.save(QuoteView.model_validate(written), None)

        # All as written, but a float premium is now the decimal text it wrote (100.0 -> "100.0")
        # and null policyIds and reasons are left out
        now = as_written_now(written)
        assert self.stored_json(store, written["id"]) == now
        read = store.get(written["id"])
        store.save(read.view, read.etag)
        assert self.stored_json(store, written["id"]) == now

    def test_creating_a_view_that_exists_conflicts_and_keeps_the_first(self, store: Any) -> None:
        store.save(view("Q1", "Running", NOW), None)

        with pytest.raises(ConcurrencyConflict):
            store.save(view("Q1", "Completed"), None)

        read = store.get("Q1")
        assert read is not None
        assert read.view == view("Q1", "Running", NOW)

    def test_replacing_at_the_current_etag_stores_it_under_a_new_etag(self, store: Any) -> None:
        store.save(view("Q1", "Running", NOW), None)
        first = store.get("Q1")

        store.save(view("Q1", "Completed"), first.etag)

        second = store.get("Q1")
        assert second.view == view("Q1", "Completed")
        assert second.etag != first.etag

    def test_a_save_answers_the_etag_a_read_reports_and_saving_again_at_it_needs_no_read(
        self, store: Any
    ) -> None:
        created = store.save(view("Q1", "Running", NOW), None)
        assert created == store.get("Q1").etag

        replaced = store.save(view("Q1", "Compensating", NOW), created)

        assert replaced != created
        assert replaced == store.get("Q1").etag
        store.save(view("Q1", "Completed"), replaced)
        assert store.get("Q1").view == view("Q1", "Completed")
        with pytest.raises(ConcurrencyConflict):
            store.save(view("Q1", "Running", NOW), replaced)  # stale once saved over

    def test_replacing_at_a_stale_etag_conflicts_and_keeps_the_newer_document(
        self, store: Any
    ) -> None:
        store.save(view("Q1", "Running", NOW), None)
        stale = store.get("Q1").etag
        store.save(view("Q1", "Compensating", NOW), stale)

        with pytest.raises(ConcurrencyConflict):
            store.save(view("Q1", "Completed"), stale)

        assert store.get("Q1").view == view("Q1", "Compensating", NOW)

    def test_replacing_a_view_that_does_not_exist_conflicts(self, store: Any) -> None:
        with pytest.raises(ConcurrencyConflict):
            store.save(view("Q1"), "some-etag")

        assert store.get("Q1") is None

    def test_due_selects_exactly_the_views_is_due_selects(self, store: Any) -> None:
        self.require("due")
        past = NOW - timedelta(minutes=1)
        plus_two, minus_two = timezone(timedelta(hours=2)), timezone(timedelta(hours=-2))
        documents = [
            view("no-saga"),
            view("no-deadline", "Running", None),
            view("running-past", "Running", past),
            view("running-now", "Running", NOW),
            view("running-future", "Running", NOW + timedelta(seconds=1)),
            view("compensating-past", "Compensating", past),
            view("completed-past", "Completed", past),
            view("compensated-past", "Compensated", past),
            # 13:30+02:00 is 11:30 UTC: due, though its text sorts after "12:00+00:00".
            view("offset-past", "Running", datetime(2024, 6, 1, 13, 30, tzinfo=plus_two)),
            # 11:30-02:00 is 13:30 UTC: not due, though its text sorts before "12:00+00:00".
            view("offset-future", "Running", datetime(2024, 6, 1, 11, 30, tzinfo=minus_two)),
            view("micro-late", "Running", NOW + timedelta(microseconds=1)),
        ]
        for each in documents:
            store.save(each, None)

        due = {d.id for d in store.due(NOW)}

        assert due == {d.id for d in documents if is_due(d, NOW)}
        assert due == {"running-past", "running-now", "compensating-past", "offset-past"}

    def test_a_view_stops_being_due_once_replaced_by_a_terminal_saga(self, store: Any) -> None:
        self.require("due")
        store.save(view("Q1", "Running", NOW - timedelta(minutes=1)), None)
        assert [d.id for d in store.due(NOW)] == ["Q1"]

        store.save(view("Q1", "Completed", NOW - timedelta(minutes=1)), store.get("Q1").etag)

        assert store.due(NOW) == []

    def test_a_view_becomes_due_once_replaced_with_a_passed_deadline(self, store: Any) -> None:
        self.require("due")
        store.save(view("Q1", "Running", NOW + timedelta(hours=1)), None)
        assert store.due(NOW) == []

        replaced = view("Q1", "Compensating", NOW - timedelta(hours=1))
        store.save(replaced, store.get("Q1").etag)

        assert store.due(NOW) == [replaced]

    def test_due_returns_at_most_the_limit(self, store: Any) -> None:
        self.require("due")
        for n in range(5):
            store.save(view(f"Q{n}", "Running", NOW - timedelta(minutes=n)), None)

        due = store.due(NOW, limit=2)

        assert len(due) == 2
        assert {d.id for d in due} <= {f"Q{n}" for n in range(5)}

    # --- the saga query (GET /api/sagas) ------------------------------------------------------

    def fill(self, store: Any, *views: QuoteView) -> list[QuoteView]:
        for each in views:
            store.save(each, None)
        return list(views)

    def test_a_query_lists_the_views_with_a_saga_most_recent_first_without_timelines(
        self, store: Any
    ) -> None:
        older = saga_view("Q-older", started=AT)
        newer = saga_view("Q-newer", started=AT + timedelta(seconds=1))
        self.fill(store, older, view("no-saga"), newer)

        found = store.query(ViewQuery())

        assert found == [listed(newer), listed(older)]
        assert all(type(each) is ListedView for each in found)  # no timeline
        assert [each.model_dump(mode="json") for each in found] == [
            {k: v for k, v in each.model_dump(mode="json").items() if k not in DROPPED}
            for each in (newer, older)
        ]

    def test_views_started_at_the_same_moment_list_by_id_descending(self, store: Any) -> None:
        self.fill(store, *(saga_view(f"Q{n}", started=AT) for n in (2, 3, 1)))

        assert ids(store.query(ViewQuery())) == ["Q3", "Q2", "Q1"]

    def test_views_without_a_start_time_list_last_by_id_descending(self, store: Any) -> None:
        self.fill(
            store,
            saga_view("Q-old-a", started=None),
            saga_view("Q-new", started=AT),
            saga_view("Q-old-b", started=None),
        )

        assert ids(store.query(ViewQuery())) == ["Q-new", "Q-old-b", "Q-old-a"]

    def test_a_status_filter_keeps_the_sagas_in_that_status_only(self, store: Any) -> None:
        self.fill(
            store,
            saga_view("Q-run", "Running", started=AT),
            saga_view("Q-done", "Completed", started=AT),
            saga_view("Q-comp", "Compensating", started=AT),
            saga_view("Q-run-2", "Running", started=AT - timedelta(hours=1)),
        )

        assert ids(store.query(ViewQuery(status="Running"))) == ["Q-run", "Q-run-2"]
        assert ids(store.query(ViewQuery(status="Compensated"))) == []

    def test_the_stuck_filter_keeps_exactly_the_views_is_stuck_selects(self, store: Any) -> None:
        past, plus_two = NOW - timedelta(minutes=1), timezone(timedelta(hours=2))
        documents = self.fill(
            store,
            view("no-saga"),
            saga_view("no-deadline", "Running", deadline=None),
            saga_view("running-past", "Running", deadline=past),
            saga_view("running-now", "Running", deadline=NOW),  # at, not past, its deadline
            saga_view("running-future", "Running", deadline=NOW + timedelta(microseconds=1)),
            saga_view("compensating-past", "Compensating", deadline=past),
            saga_view("completed-past", "Completed", deadline=past),
            saga_view("compensated-past", "Compensated", deadline=past),
            # 13:30+02:00 is 11:30 UTC: stuck, though its text sorts after "12:00+00:00".
            saga_view(
                "offset-past", "Running", deadline=datetime(2024, 6, 1, 13, 30, tzinfo=plus_two)
            ),
        )

        stuck = set(ids(store.query(ViewQuery(stuck_at=NOW))))

        assert stuck == {d.id for d in documents if is_stuck(d, NOW)}
        assert stuck == {"running-past", "compensating-past", "offset-past"}

    def test_a_customer_filter_keeps_that_customers_views(self, store: Any) -> None:
        self.fill(
            store,
            saga_view("Q-c1", customer="C1", started=AT),
            saga_view("Q-c2", customer="C2", started=AT),
            saga_view("Q-c1-quote-only", customer="C1", status=None),
        )

        assert ids(store.query(ViewQuery(customer_id="C1"))) == ["Q-c1"]
        assert ids(store.query(ViewQuery(customer_id="C1", with_saga=False))) == [
            "Q-c1",
            "Q-c1-quote-only",
        ]

    def test_a_date_range_includes_both_ends_and_never_a_view_without_a_start(
        self, store: Any
    ) -> None:
        minus_two = timezone(timedelta(hours=-2))
        self.fill(
            store,
            saga_view("before", started=AT - timedelta(microseconds=1)),
            saga_view("from", started=AT),
            saga_view("inside", started=AT + timedelta(minutes=30)),
            saga_view("to", started=AT + timedelta(hours=1)),
            saga_view("after", started=AT + timedelta(hours=1, microseconds=1)),
            saga_view("unknown", started=None),
        )
        # The same range written with another offset selects the same views.
        start, end = AT.astimezone(minus_two), (AT + timedelta(hours=1)).astimezone(minus_two)

        assert ids(store.query(ViewQuery(started_from=start, started_to=end))) == [
            "to",
            "inside",
            "from",
        ]
        assert ids(store.query(ViewQuery(started_from=AT + timedelta(hours=1)))) == [
            "after",
            "to",
        ]
        assert ids(store.query(ViewQuery(started_to=AT - timedelta(microseconds=1)))) == ["before"]

    def test_filters_combine(self, store: Any) -> None:
        self.fill(
            store,
            saga_view("hit", "Running", customer="C1", started=AT, deadline=NOW - timedelta(1)),
            saga_view("other-customer", "Running", customer="C2", started=AT, deadline=AT),
            saga_view("not-stuck", "Running", customer="C1", started=AT, deadline=None),
            saga_view(
                "too-old", "Running", customer="C1", started=AT - timedelta(days=2), deadline=AT
            ),
        )
        query = ViewQuery(status="Running", stuck_at=NOW, customer_id="C1",
                          started_from=AT - timedelta(days=1))  # fmt: skip

        assert ids(store.query(query)) == ["hit"]

    @pytest.mark.parametrize("limit", [1, 2, 100])
    def test_a_query_returns_at_most_the_limit_the_first_ones_in_order(
        self, store: Any, limit: int
    ) -> None:
        documents = self.fill(
            store, *(saga_view(f"Q{n:02}", started=AT + timedelta(seconds=n)) for n in range(5))
        )

        assert ids(store.query(ViewQuery(limit=limit))) == ids(documents[::-1])[:limit]

    @pytest.mark.parametrize("page", [1, 2, 3])
    def test_pages_after_each_last_key_list_every_view_once_in_order(
        self, store: Any, page: int
    ) -> None:
        # Ties on the start time and views without one: every key boundary is crossed.
        documents = [saga_view(f"Q{n}", started=AT + timedelta(seconds=n // 2)) for n in range(6)]
        documents += [saga_view(f"Q-old-{n}", started=None) for n in range(3)]
        self.fill(store, *documents)
        expected = ids(store.query(ViewQuery(limit=100)))

        assert ids(walk(store, ViewQuery(), page)) == expected
        assert len(expected) == len(documents)

    def test_sagas_started_or_changed_between_pages_neither_repeat_nor_skip_a_view(
        self, store: Any
    ) -> None:
        first = self.fill(
            store,
            *(saga_view(f"Q{n}", "Running", started=AT + timedelta(seconds=n)) for n in range(6)),
        )
        seen: list[str] = []
        after = None
        for round_ in range(10):
            found = store.query(ViewQuery(after=after, limit=2))
            if not found:
                break
            seen += ids(found)
            after = page_key(found[-1])
            # Meanwhile: a new saga starts (it is newer than every page so far) and one not yet
            # listed ends (its key does not move).
            store.save(saga_view(f"Q-new-{round_}", started=AT + timedelta(hours=1)), None)
            if round_ == 0:
                current = store.get("Q1")
                store.save(saga_view("Q1", "Completed", started=AT + timedelta(seconds=1)),
                           current.etag)  # fmt: skip

        assert seen == ids(first[::-1])

    def test_counts_give_every_status_and_the_stuck_sagas(self, store: Any) -> None:
        past = NOW - timedelta(minutes=1)
        self.fill(
            store,
            view("no-saga"),
            saga_view("r1", "Running", deadline=past),
            saga_view("r2", "Running", deadline=NOW + timedelta(minutes=1)),
            saga_view("c1", "Compensating", deadline=past),
            saga_view("d1", "Completed", deadline=past),
        )

        counts = store.counts(NOW)

        assert counts == SagaCounts(
            {"Running": 2, "Compensating": 1, "Completed": 1, "Compensated": 0}, stuck=2
        )

    def test_counts_of_an_empty_store_are_zero(self, store: Any) -> None:
        assert store.counts(NOW) == SagaCounts(
            {"Running": 0, "Compensating": 0, "Completed": 0, "Compensated": 0}, stuck=0
        )


AT = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


def saga_view(
    view_id: str,
    status: str | None = "Running",
    *,
    started: datetime | None = AT,
    deadline: datetime | None = None,
    customer: str = "C1",
) -> QuoteView:
    """A view as the orchestrator writes it now (customerId, startedAt; None: an older view
    without one), with a timeline entry that a query must not return."""
    stored = document(view_id, status, deadline)
    stored["customerId"] = customer
    stored["quote"] = {"quoteId": view_id, "customerId": customer, "premium": str(ACCEPTED_PREMIUM),
                       "status": "Approved", "policyId": None}  # fmt: skip
    stored["timeline"] = [{"eventId": "e1", "eventType": "QuoteCreated", "reason": None,
                           "streamId": f"quote-{view_id}", "sequenceNumber": 1,
                           "timestamp": AT.isoformat()}]  # fmt: skip
    if status is not None and started is not None:
        stored["saga"] |= {"startedAt": utc_text(started), "updatedAt": utc_text(started)}
    return QuoteView.model_validate(stored)


DROPPED = ("docType", "timeline")  # what a query leaves out of a view


def ids(views: list[ListedView]) -> list[str]:
    return [each.id for each in views]


def walk(store: Any, query: ViewQuery, page: int) -> list[ListedView]:
    """Every page of `query`, `page` views at a time, each after the last key of the one before."""
    found: list[ListedView] = []
    while True:
        batch = store.query(
            replace(query, limit=page, after=page_key(found[-1]) if found else None)
        )
        found += batch
        if len(batch) < page:
            return found
