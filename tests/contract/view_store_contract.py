"""The ViewStore contract: every adapter subclasses ViewStoreContract.

Hooks a subclass provides: fixture `store` (an empty store per test); class attribute `gaps`
({capability: reason}) for what it cannot offer, e.g. "due" if time-out queries are unsupported.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any, ClassVar

import pytest

from application.ports import ConcurrencyConflict
from application.views import empty_view, is_due

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def view(
    view_id: str, status: str | None = None, deadline: datetime | None = None
) -> dict[str, Any]:
    """A quote view whose saga has `status` (None: no saga yet) and `deadline`."""
    document = empty_view(view_id)
    if status is not None:
        document["saga"] = {
            "status": status,
            "step": "CreatePolicy",
            "deadline": deadline.isoformat() if deadline else None,
            "policyId": None,
            "version": 1,
        }
    return document


@pytest.mark.contract
class ViewStoreContract:
    """Behaviour every ViewStore must show; see the module docstring for the hooks."""

    gaps: ClassVar[dict[str, str]] = {}

    @pytest.fixture
    def store(self) -> Any:
        raise NotImplementedError("a subclass provides an empty store")

    def require(self, capability: str) -> None:
        if capability in self.gaps:
            pytest.skip(f"{type(self).__name__} lacks {capability}: {self.gaps[capability]}")

    def test_an_unknown_view_reads_as_none(self, store: Any) -> None:
        assert store.get("Q404") is None

    def test_a_created_view_reads_back_with_an_etag(self, store: Any) -> None:
        document = view("Q1", "Running", NOW)

        store.save(document, None)

        read = store.get("Q1")
        assert read is not None
        assert read.document == document
        assert read.etag

    def test_creating_a_view_that_exists_conflicts_and_keeps_the_first(self, store: Any) -> None:
        store.save(view("Q1", "Running", NOW), None)

        with pytest.raises(ConcurrencyConflict):
            store.save(view("Q1", "Completed"), None)

        read = store.get("Q1")
        assert read is not None
        assert read.document == view("Q1", "Running", NOW)

    def test_replacing_at_the_current_etag_stores_it_under_a_new_etag(self, store: Any) -> None:
        store.save(view("Q1", "Running", NOW), None)
        first = store.get("Q1")

        store.save(view("Q1", "Completed"), first.etag)

        second = store.get("Q1")
        assert second.document == view("Q1", "Completed")
        assert second.etag != first.etag

    def test_replacing_at_a_stale_etag_conflicts_and_keeps_the_newer_document(
        self, store: Any
    ) -> None:
        store.save(view("Q1", "Running", NOW), None)
        stale = store.get("Q1").etag
        store.save(view("Q1", "Compensating", NOW), stale)

        with pytest.raises(ConcurrencyConflict):
            store.save(view("Q1", "Completed"), stale)

        assert store.get("Q1").document == view("Q1", "Compensating", NOW)

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
        for document in documents:
            store.save(document, None)

        due = {d["id"] for d in store.due(NOW)}

        assert due == {d["id"] for d in documents if is_due(d, NOW)}
        assert due == {"running-past", "running-now", "compensating-past", "offset-past"}

    def test_a_view_stops_being_due_once_replaced_by_a_terminal_saga(self, store: Any) -> None:
        self.require("due")
        store.save(view("Q1", "Running", NOW - timedelta(minutes=1)), None)
        assert [d["id"] for d in store.due(NOW)] == ["Q1"]

        store.save(view("Q1", "Completed", NOW - timedelta(minutes=1)), store.get("Q1").etag)

        assert store.due(NOW) == []

    def test_a_view_becomes_due_once_replaced_with_a_passed_deadline(self, store: Any) -> None:
        self.require("due")
        store.save(view("Q1", "Running", NOW + timedelta(hours=1)), None)
        assert store.due(NOW) == []

        document = view("Q1", "Compensating", NOW - timedelta(hours=1))
        store.save(document, store.get("Q1").etag)

        assert store.due(NOW) == [document]

    def test_due_returns_at_most_the_limit(self, store: Any) -> None:
        self.require("due")
        for n in range(5):
            store.save(view(f"Q{n}", "Running", NOW - timedelta(minutes=n)), None)

        due = store.due(NOW, limit=2)

        assert len(due) == 2
        assert {d["id"] for d in due} <= {f"Q{n}" for n in range(5)}
