"""The EventStore contract: every adapter (memory, SQLite, Cosmos) subclasses EventStoreContract.

A subclass named `Test...` provides the hooks below; the base is not collected by pytest.

Hooks a subclass provides:
- fixture `store`: an empty store (a fresh one per test).
- fixture `concurrent_appends`: a `ConcurrentAppends` callable that runs writers truly in
  parallel (threads for memory, OS processes for SQLite, clients of their own for Cosmos) and
  returns their outcomes; see `ConcurrentAppends`. `run_writers_in_threads` is a ready-made one.
- class attribute `gaps`: {capability: reason} for what the store cannot offer; the tests that
  need it skip with that reason. Capabilities: "feed" (`read_all(after_position, limit)`),
  "concurrency" (no `concurrent_appends` fixture).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import pytest

from application.ports import ConcurrencyConflict, Outcome
from domain.messages import EventEnvelope
from tests.support.builders import batch, event

# (stream_id, expected_version, events, command_id): the arguments of one append.
AppendAttempt = tuple[str, int, Sequence[EventEnvelope], str]

# writers[w][r] is writer w's attempt in round r. All writers start each round together (a
# barrier) and the result is outcomes[w][r]: "appended", "already-handled", "conflict", or
# "error: <repr>" for anything else.
ConcurrentAppends = Callable[[Sequence[Sequence[AppendAttempt]]], list[list[str]]]

WRITERS = 8
ROUNDS = 4


def attempt_append(store: Any, attempt: AppendAttempt) -> str:
    """One append reduced to its outcome, for writers running where exceptions cannot travel."""
    stream_id, expected_version, events, command_id = attempt
    try:
        return str(store.append(stream_id, expected_version, events, command_id))
    except ConcurrencyConflict:
        return "conflict"
    except Exception as exc:
        return f"error: {exc!r}"


def run_writers_in_threads(
    store: Any, writers: Sequence[Sequence[AppendAttempt]]
) -> list[list[str]]:
    """A `ConcurrentAppends` over one store shared by one thread per writer."""
    return run_writers_on_stores([store] * len(writers), writers)


def run_writers_on_stores(
    stores: Sequence[Any], writers: Sequence[Sequence[AppendAttempt]]
) -> list[list[str]]:
    """One thread per writer; writer w appends through stores[w] (its own client, say)."""
    barrier = threading.Barrier(len(writers))
    outcomes: list[list[str]] = [[] for _ in writers]

    def run(index: int) -> None:
        for attempt in writers[index]:
            barrier.wait(timeout=60)
            outcomes[index].append(attempt_append(stores[index], attempt))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(writers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return outcomes


@pytest.mark.contract
class EventStoreContract:
    """Behaviour every EventStore must show; see the module docstring for the hooks."""

    gaps: ClassVar[dict[str, str]] = {}

    @pytest.fixture
    def store(self) -> Any:
        raise NotImplementedError("a subclass provides an empty store")

    @pytest.fixture
    def concurrent_appends(self, store: Any) -> ConcurrentAppends:
        raise NotImplementedError("a subclass provides parallel writers, or declares the gap")

    def require(self, capability: str) -> None:
        if capability in self.gaps:
            pytest.skip(f"{type(self).__name__} lacks {capability}: {self.gaps[capability]}")

    def feed(self, store: Any) -> list[tuple[int, EventEnvelope]]:
        self.require("feed")
        return list(store.read_all(0, 1_000_000))

    # --- reads ---------------------------------------------------------------------------------

    def test_an_unknown_stream_reads_as_empty(self, store: Any) -> None:
        assert store.read_stream("quote-nobody") == []

    def test_an_event_reads_back_exactly_as_it_was_appended(self, store: Any) -> None:
        original = event(
            "quote-Q1",
            1,
            data={"quoteId": "Q1", "nested": {"list": [1, 2.5, None, "x"]}, "text": "é ✓"},
            traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        store.append("quote-Q1", 0, [original], "cmd-1")

        [read] = store.read_stream("quote-Q1")

        assert read == original
        assert read.to_document() == original.to_document()

    def test_a_stream_reads_in_sequence_order(self, store: Any) -> None:
        store.append("quote-Q1", 0, batch("quote-Q1", 0, 2), "cmd-1")
        store.append("quote-Q1", 2, batch("quote-Q1", 2, 3), "cmd-2")

        read = store.read_stream("quote-Q1")

        assert [e.sequenceNumber for e in read] == [1, 2, 3, 4, 5]
        assert read == batch("quote-Q1", 0, 5)

    def test_a_stream_reads_only_the_events_after_a_given_version(self, store: Any) -> None:
        store.append("quote-Q1", 0, batch("quote-Q1", 0, 4), "cmd-1")

        assert [e.sequenceNumber for e in store.read_stream("quote-Q1", after=2)] == [3, 4]
        assert store.read_stream("quote-Q1", after=4) == []

    def test_streams_are_independent(self, store: Any) -> None:
        assert store.append("quote-Q1", 0, batch("quote-Q1", 0, 2), "cmd-1") is Outcome.APPENDED
        assert store.append("policy-P1", 0, batch("policy-P1", 0, 1), "cmd-2") is Outcome.APPENDED

        assert store.read_stream("quote-Q1") == batch("quote-Q1", 0, 2)
        assert store.read_stream("policy-P1") == batch("policy-P1", 0, 1)

    # --- optimistic concurrency ----------------------------------------------------------------

    def test_an_append_at_the_current_version_reports_appended(self, store: Any) -> None:
        assert store.append("quote-Q1", 0, batch("quote-Q1", 0, 1), "cmd-1") is (Outcome.APPENDED)
        assert store.append("quote-Q1", 1, batch("quote-Q1", 1, 1), "cmd-2") is (Outcome.APPENDED)

    @pytest.mark.parametrize("expected_version", [0, 1, 3])
    def test_an_append_at_a_wrong_expected_version_conflicts_and_appends_nothing(
        self, store: Any, expected_version: int
    ) -> None:
        store.append("quote-Q1", 0, batch("quote-Q1", 0, 2), "cmd-1")

        with pytest.raises(ConcurrencyConflict):
            store.append(
                "quote-Q1",
                expected_version,
                batch("quote-Q1", expected_version, 2, tag="late"),
                "cmd-2",
            )

        assert store.read_stream("quote-Q1") == batch("quote-Q1", 0, 2)
        if "feed" not in self.gaps:
            assert [e for _, e in self.feed(store)] == batch("quote-Q1", 0, 2)

    def test_a_conflicting_multi_event_batch_leaves_no_partial_events(self, store: Any) -> None:
        store.append("quote-Q1", 0, batch("quote-Q1", 0, 2), "cmd-1")

        # Events 2..4: the first collides with the stored event 2, the rest would be new.
        with pytest.raises(ConcurrencyConflict):
            store.append("quote-Q1", 1, batch("quote-Q1", 1, 3, tag="late"), "cmd-2")

        assert store.read_stream("quote-Q1") == batch("quote-Q1", 0, 2)
        assert store.append("quote-Q1", 2, batch("quote-Q1", 2, 1), "cmd-2") is Outcome.APPENDED

    # --- idempotency ---------------------------------------------------------------------------

    def test_a_repeated_command_appends_nothing_and_reports_already_handled(
        self, store: Any
    ) -> None:
        store.append("quote-Q1", 0, batch("quote-Q1", 0, 1), "cmd-1")

        outcome = store.append("quote-Q1", 1, batch("quote-Q1", 1, 1, tag="again"), "cmd-1")

        assert outcome is Outcome.ALREADY_HANDLED
        assert store.read_stream("quote-Q1") == batch("quote-Q1", 0, 1)

    def test_a_repeated_command_at_a_stale_version_reports_already_handled_not_a_conflict(
        self, store: Any
    ) -> None:
        store.append("quote-Q1", 0, batch("quote-Q1", 0, 1), "cmd-1")
        store.append("quote-Q1", 1, batch("quote-Q1", 1, 1), "cmd-2")

        # The redelivered cmd-1 carries the version it was decided at, now stale.
        outcome = store.append("quote-Q1", 0, batch("quote-Q1", 0, 1, tag="again"), "cmd-1")

        assert outcome is Outcome.ALREADY_HANDLED
        assert store.read_stream("quote-Q1") == batch("quote-Q1", 0, 2)

    def test_a_command_id_counts_once_per_stream_not_across_streams(self, store: Any) -> None:
        store.append("quote-Q1", 0, batch("quote-Q1", 0, 1), "cmd-1")

        outcome = store.append("saga-Q1", 0, batch("saga-Q1", 0, 1), "cmd-1")

        assert outcome is Outcome.APPENDED
        assert store.read_stream("saga-Q1") == batch("saga-Q1", 0, 1)

    # --- batch rules ---------------------------------------------------------------------------

    @pytest.mark.parametrize(
        ("events", "reason"),
        [
            ([], "at least one event"),
            (batch("quote-OTHER", 0, 1), "belongs to"),
            ([event("quote-Q1", 1), event("quote-Q1", 3)], "expected 2"),
            ([event("quote-Q1", 2)], "expected 1"),
            (
                [event("quote-Q1", 1).model_copy(update={"id": "quote-Q1:1"})],
                "is not quote-Q1:<sequence>",
            ),
        ],
        ids=["empty", "other-stream", "gap", "wrong-start", "wrong-id"],
    )
    def test_a_batch_that_breaks_the_batch_rules_raises_value_error_and_appends_nothing(
        self, store: Any, events: list[EventEnvelope], reason: str
    ) -> None:
        with pytest.raises(ValueError, match=reason):
            store.append("quote-Q1", 0, events, "cmd-1")

        assert store.read_stream("quote-Q1") == []
        assert store.read_stream("quote-OTHER") == []
        # Nothing was recorded for cmd-1 either: a corrected batch is still appended.
        assert store.append("quote-Q1", 0, batch("quote-Q1", 0, 1), "cmd-1") is Outcome.APPENDED

    # --- real concurrency ----------------------------------------------------------------------

    def test_racing_writers_for_one_version_see_exactly_one_winner_per_round(
        self, store: Any, concurrent_appends: ConcurrentAppends
    ) -> None:
        self.require("concurrency")
        store.append("quote-Q1", 0, batch("quote-Q1", 0, 1), "cmd-seed")
        # Round r: every writer tries to append events 2r+2 and 2r+3 after version 2r+1.
        writers = [
            [
                ("quote-Q1", 2 * r + 1, batch("quote-Q1", 2 * r + 1, 2, tag=f"w{w}"), f"c{w}-{r}")
                for r in range(ROUNDS)
            ]
            for w in range(WRITERS)
        ]

        outcomes = concurrent_appends(writers)

        assert all(o in {"appended", "conflict"} for row in outcomes for o in row), outcomes
        winners = [
            [w for w in range(WRITERS) if outcomes[w][r] == "appended"] for r in range(ROUNDS)
        ]
        assert all(len(won) == 1 for won in winners), outcomes
        stream = store.read_stream("quote-Q1")
        assert [e.sequenceNumber for e in stream] == list(range(1, 2 * ROUNDS + 2))
        # Each round's two events come whole from that round's winner: no interleaved batches.
        expected = batch("quote-Q1", 0, 1)
        for r, [w] in enumerate(winners):
            expected += batch("quote-Q1", 2 * r + 1, 2, tag=f"w{w}")
        assert stream == expected

    def test_racing_redeliveries_of_one_command_append_it_once(
        self, store: Any, concurrent_appends: ConcurrentAppends
    ) -> None:
        self.require("concurrency")
        writers = [
            [("quote-Q1", 0, batch("quote-Q1", 0, 2, tag=f"w{w}"), "cmd-1")] for w in range(WRITERS)
        ]

        outcomes = [row[0] for row in concurrent_appends(writers)]

        assert outcomes.count("appended") == 1, outcomes
        assert set(outcomes) <= {"appended", "already-handled", "conflict"}, outcomes
        [winner] = [w for w, o in enumerate(outcomes) if o == "appended"]
        assert store.read_stream("quote-Q1") == batch("quote-Q1", 0, 2, tag=f"w{winner}")

    def test_concurrent_writers_on_different_streams_all_land(
        self, store: Any, concurrent_appends: ConcurrentAppends
    ) -> None:
        self.require("concurrency")
        writers = [
            [(f"quote-W{w}", r, batch(f"quote-W{w}", r, 1), f"c{r}") for r in range(ROUNDS)]
            for w in range(WRITERS)
        ]

        outcomes = concurrent_appends(writers)

        assert outcomes == [["appended"] * ROUNDS] * WRITERS
        for w in range(WRITERS):
            assert store.read_stream(f"quote-W{w}") == batch(f"quote-W{w}", 0, ROUNDS)
        if "feed" not in self.gaps:
            positions = [p for p, _ in self.feed(store)]
            assert len(positions) == WRITERS * ROUNDS
            assert positions == sorted(set(positions))

    # --- the feed ------------------------------------------------------------------------------

    def test_the_feed_returns_events_in_append_order_with_increasing_positions(
        self, store: Any
    ) -> None:
        self.require("feed")
        appended: list[EventEnvelope] = []
        for n, (stream, version, count) in enumerate(
            [("quote-Q1", 0, 2), ("policy-P1", 0, 1), ("quote-Q1", 2, 1), ("saga-Q1", 0, 3)]
        ):
            events = batch(stream, version, count)
            store.append(stream, version, events, f"cmd-{n}")
            appended += events

        feed = store.read_all()

        assert [e for _, e in feed] == appended
        positions = [p for p, _ in feed]
        assert positions[0] >= 1
        assert all(a < b for a, b in itertools.pairwise(positions))

    def test_the_feed_pages_by_position_and_limit(self, store: Any) -> None:
        self.require("feed")
        for n in range(7):
            store.append(f"quote-Q{n}", 0, batch(f"quote-Q{n}", 0, 1), "cmd-1")
        everything = store.read_all()

        pages: list[list[tuple[int, EventEnvelope]]] = []
        position = 0
        for _ in range(10):  # bounded: a feed that repeats its last entry must not spin
            page = store.read_all(after_position=position, limit=3)
            if not page:
                break
            pages.append(page)
            position = page[-1][0]

        assert [len(page) for page in pages] == [3, 3, 1]
        assert [entry for page in pages for entry in page] == everything
        assert store.read_all(after_position=everything[2][0]) == everything[3:]
        assert store.read_all(after_position=everything[-1][0]) == []
