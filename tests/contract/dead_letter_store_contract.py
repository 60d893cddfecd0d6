"""The DeadLetterStore contract: every adapter subclasses DeadLetterStoreContract.

Hooks a subclass provides: fixture `store` (an empty store per test); class attribute `gaps`
({capability: reason}) for what it cannot offer.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any, ClassVar

import pytest

from application.ports import DeadLetter

AT = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def letter(
    letter_id: str,
    received_at: datetime = AT,
    reason: str = "unknown type",
    correlation: str | None = "corr-1",
) -> DeadLetter:
    return DeadLetter(
        id=letter_id,
        source="command",
        origin="quote-commands",
        reason=reason,
        payload='{"commandType": "Nope", "data": {"x": "é"}}',
        correlationId=correlation,
        receivedAt=received_at,
    )


@pytest.mark.contract
class DeadLetterStoreContract:
    """Behaviour every DeadLetterStore must show; see the module docstring for the hooks."""

    gaps: ClassVar[dict[str, str]] = {}

    @pytest.fixture
    def store(self) -> Any:
        raise NotImplementedError("a subclass provides an empty store")

    def test_an_unknown_letter_reads_as_none(self, store: Any) -> None:
        assert store.get("L404") is None
        assert store.list() == []

    def test_a_parked_letter_reads_back_as_parked(self, store: Any) -> None:
        store.put(letter("L1"))

        assert store.get("L1") == letter("L1")
        assert store.list() == [letter("L1")]

    def test_parking_the_same_id_again_keeps_the_first_letter(self, store: Any) -> None:
        store.put(letter("L1", reason="first"))

        store.put(letter("L1", AT + timedelta(hours=1), reason="second"))

        assert store.get("L1") == letter("L1", reason="first")
        assert store.list() == [letter("L1", reason="first")]

    def test_letters_list_most_recent_first_up_to_the_limit(self, store: Any) -> None:
        # 13:30+02:00 is 11:30 UTC: the oldest, though its text sorts last.
        oldest = letter(
            "L-oldest", datetime(2024, 6, 1, 13, 30, tzinfo=timezone(timedelta(hours=2)))
        )
        middle = letter("L-middle", AT)
        newest = letter("L-newest", AT + timedelta(minutes=5))
        for parked in (middle, oldest, newest):
            store.put(parked)

        assert store.list() == [newest, middle, oldest]
        assert store.list(limit=2) == [newest, middle]

    def test_marking_a_letter_replayed_records_when_and_keeps_the_rest(self, store: Any) -> None:
        store.put(letter("L1"))
        store.put(letter("L2"))
        replayed_at = AT + timedelta(hours=2)

        store.mark_replayed("L1", replayed_at)

        assert store.get("L1") == letter("L1").model_copy(update={"replayedAt": replayed_at})
        assert store.get("L2").replayedAt is None

    def test_a_replayed_letter_parked_again_stays_replayed(self, store: Any) -> None:
        store.put(letter("L1"))
        store.mark_replayed("L1", AT + timedelta(hours=2))

        store.put(letter("L1"))

        assert store.get("L1").replayedAt == AT + timedelta(hours=2)

    def test_a_new_reason_is_recorded_on_the_same_letter_and_keeps_the_rest(
        self, store: Any
    ) -> None:
        later = AT + timedelta(minutes=1)
        store.put(letter("L1", reason="first"))
        store.put(letter("L2", later, reason="other"))

        store.update_reason("L1", "refused again: é")

        updated = letter("L1", reason="refused again: é")
        assert store.get("L1") == updated
        assert store.list() == [letter("L2", later, reason="other"), updated]

    def test_a_new_reason_keeps_a_letter_open_or_closed_as_it_was(self, store: Any) -> None:
        store.put(letter("L1"))
        store.mark_replayed("L1", AT + timedelta(hours=2))

        store.update_reason("L1", "later")

        assert store.get("L1").replayedAt == AT + timedelta(hours=2)
        assert store.get("L1").reason == "later"

    @pytest.mark.parametrize("operation", ["update_reason", "mark_replayed"])
    def test_changing_an_unknown_letter_is_a_key_error(self, store: Any, operation: str) -> None:
        argument = "reason" if operation == "update_reason" else AT

        with pytest.raises(KeyError):
            getattr(store, operation)("L404", argument)

    def test_letters_filter_by_correlation_id_and_by_open_or_replayed(self, store: Any) -> None:
        q1_open = letter("L-q1-open", AT, correlation="Q1")
        q1_done = letter("L-q1-done", AT + timedelta(minutes=1), correlation="Q1")
        q2_open = letter("L-q2-open", AT + timedelta(minutes=2), correlation="Q2")
        unknown = letter("L-none", AT + timedelta(minutes=3), correlation=None)
        for parked in (q1_open, q1_done, q2_open, unknown):
            store.put(parked)
        replayed_at = AT + timedelta(hours=1)
        store.mark_replayed("L-q1-done", replayed_at)
        q1_done = q1_done.model_copy(update={"replayedAt": replayed_at})

        assert store.list(correlation_id="Q1") == [q1_done, q1_open]
        assert store.list(state="open") == [unknown, q2_open, q1_open]
        assert store.list(state="replayed") == [q1_done]
        assert store.list(correlation_id="Q1", state="open") == [q1_open]
        assert store.list(correlation_id="Q3") == []
        assert store.list(limit=1, state="open") == [unknown]
