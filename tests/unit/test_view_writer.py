"""The orchestrator writes a quote's view once per batch, without reading it first on a warm
worker; a stale copy (another writer, a rolled-back write) costs a read, never a lost event."""

from __future__ import annotations

import pytest

from adapters.memory import InMemoryViewStore
from application.batches import RetryBatch
from application.orchestration import Orchestrator
from application.ports import TransientFailure
from application.projection import ViewWriter
from tests.support.builders import ACCEPTED_PREMIUM
from tests.support.world import World

pytestmark = pytest.mark.unit


class CountedViews(InMemoryViewStore):
    """Counts reads and writes; can snapshot and roll back (a transaction that failed)."""

    def __init__(self) -> None:
        super().__init__()
        self.gets = self.saves = 0
        self.failing: set[str] = set()

    def get(self, view_id):
        self.gets += 1
        return super().get(view_id)

    def save(self, view, etag):
        self.saves += 1
        if view.id in self.failing:
            raise TransientFailure(f"view {view.id}: the store is down")
        return super().save(view, etag)

    def snapshot(self) -> dict:
        return dict(self._docs)

    def roll_back(self, snapshot: dict) -> None:
        self._docs = dict(snapshot)


def documents(world: World, quote_id: str, *types: str) -> list[dict]:
    return [
        e.to_document()
        for _, e in world.store.read_all(0, 10**9)
        if e.correlationId == quote_id and e.eventType in types
    ]


def started(quote_id: str = "Q1") -> tuple[World, CountedViews]:
    world = World()
    world.orchestrator.views = views = CountedViews()
    world.quotes.create("C1", ACCEPTED_PREMIUM, quote_id)
    world.quotes.approve(quote_id)
    return world, views


def timeline(views: InMemoryViewStore, quote_id: str) -> list[str]:
    return [entry.eventType for entry in views.get(quote_id).view.timeline]


def test_a_warm_orchestrator_writes_a_quotes_view_on_every_batch_without_reading_it():
    world, views = started()
    for document in documents(world, "Q1", "QuoteCreated", "QuoteApproved"):
        world.orchestrator.process_documents([document])

    assert (views.gets, views.saves) == (0, 2)
    assert timeline(views, "Q1") == ["QuoteCreated", "QuoteApproved", "SagaStarted"]


def test_several_events_of_one_quote_in_a_batch_are_written_in_one_save():
    world, views = started()
    world.orchestrator.process_documents(documents(world, "Q1", "QuoteCreated", "QuoteApproved"))

    assert (views.gets, views.saves) == (0, 1)
    assert views.get("Q1").view.saga.status == "Running"
    assert timeline(views, "Q1") == ["QuoteCreated", "QuoteApproved", "SagaStarted"]


def test_a_view_another_worker_wrote_meanwhile_is_read_once_and_keeps_both_writes():
    world, views = started()
    created, approved = documents(world, "Q1", "QuoteCreated", "QuoteApproved")
    other = Orchestrator(world.orchestrator.saga, world.publisher, views, world.dead_letters,
                         world.clock)  # fmt: skip
    world.orchestrator.process_documents([created])
    other.process_documents([approved])  # this worker's copy is now stale
    gets = views.gets
    world.inbox.receive([c.model_dump_json() for c in world.publisher.drain()])
    world.orchestrator.process_documents(documents(world, "Q1", "PolicyCreated"))

    assert views.gets == gets + 1  # the stale etag conflicted: read, then written
    assert timeline(views, "Q1") == [
        "QuoteCreated", "QuoteApproved", "SagaStarted", "PolicyCreated", "SagaAdvanced",
    ]  # fmt: skip


def test_a_view_write_rolled_back_with_its_transaction_is_written_again_on_redelivery():
    world, views = started()
    created, approved = documents(world, "Q1", "QuoteCreated", "QuoteApproved")
    world.orchestrator.process_documents([created])
    before = views.snapshot()
    world.orchestrator.process_documents([approved])
    views.roll_back(before)  # the invocation's transaction failed after the write

    world.orchestrator.process_documents([approved])  # the trigger delivers it again

    assert timeline(views, "Q1") == ["QuoteCreated", "QuoteApproved", "SagaStarted"]
    assert views.get("Q1").view.saga.status == "Running"


def test_a_failed_view_write_retries_every_document_of_its_quote_and_publishes_none_of_them():
    world, views = started("Q1")
    world.quotes.create("C2", ACCEPTED_PREMIUM, "Q2")
    world.quotes.approve("Q2")
    views.failing = {"Q1"}
    batch = [
        *documents(world, "Q1", "QuoteCreated", "QuoteApproved"),
        *documents(world, "Q2", "QuoteCreated", "QuoteApproved"),
    ]

    with pytest.raises(RetryBatch) as retry:
        world.orchestrator.process_documents(batch)

    assert [str(f) for f in retry.value.failures] == ["view Q1: the store is down"] * 2
    assert retry.value.report.processed == 2
    assert {c.correlationId for c in world.publisher.drain()} == {"Q2"}
    assert views.get("Q1") is None
    assert views.get("Q2").view.saga.status == "Running"


def test_on_the_last_attempt_a_failed_view_write_parks_every_document_of_its_quote():
    world, views = started("Q1")
    views.failing = {"Q1"}
    batch = documents(world, "Q1", "QuoteCreated", "QuoteApproved")

    report = world.orchestrator.process_documents(batch, final_attempt=True)

    assert (report.processed, report.dead_lettered) == (0, 2)
    assert world.publisher.drain() == []
    assert {letter.correlationId for letter in world.dead_letters.list()} == {"Q1"}
    assert {letter.reason for letter in world.dead_letters.list()} == {
        "failed after the last retry: TransientFailure('view Q1: the store is down')"
    }


class ReadByQuote(CountedViews):
    """Also records which quotes were read, and can fail reads (the store is down)."""

    def __init__(self) -> None:
        super().__init__()
        self.read: list[str] = []
        self.failing_reads: set[str] = set()

    def get(self, view_id):
        self.read.append(view_id)
        if view_id in self.failing_reads:
            raise TransientFailure(f"view {view_id}: the store is down")
        return super().get(view_id)


def with_writer(capacity: int, *quote_ids: str) -> tuple[World, ReadByQuote]:
    world = World()
    world.orchestrator.views = views = ReadByQuote()
    world.orchestrator._writer = ViewWriter(capacity)
    for quote_id in quote_ids:
        world.quotes.create("C1", ACCEPTED_PREMIUM, quote_id)
        world.quotes.approve(quote_id)
    return world, views


def test_a_worker_keeps_the_views_it_wrote_last_and_reads_only_the_one_it_dropped():
    world, views = with_writer(2, "Q1", "Q2", "Q3")
    for quote_id in ("Q1", "Q2"):
        world.orchestrator.process_documents(documents(world, quote_id, "QuoteCreated"))
    world.orchestrator.process_documents(documents(world, "Q1", "QuoteApproved"))  # Q1 is recent
    world.orchestrator.process_documents(documents(world, "Q3", "QuoteCreated"))  # drops Q2

    for quote_id in ("Q3", "Q2"):
        world.orchestrator.process_documents(documents(world, quote_id, "QuoteApproved"))
    world.inbox.receive([c.model_dump_json() for c in world.publisher.drain()])
    world.orchestrator.process_documents(documents(world, "Q3", "PolicyCreated"))

    assert views.read == ["Q2"]
    assert [timeline(views, q)[-1] for q in ("Q1", "Q2", "Q3")] == [
        "SagaStarted", "SagaStarted", "SagaAdvanced",
    ]  # fmt: skip


def test_a_cold_worker_reads_an_existing_view_before_writing_another_streams_first_event():
    world, _ = started()
    world.orchestrator.process_documents(documents(world, "Q1", "QuoteCreated", "QuoteApproved"))
    world.inbox.receive([c.model_dump_json() for c in world.publisher.drain()])
    cold = Orchestrator(world.orchestrator.saga, world.publisher, views := CountedViews(),
                        world.dead_letters, world.clock)  # fmt: skip
    views._docs = dict(world.orchestrator.views._docs)

    cold.process_documents(documents(world, "Q1", "PolicyCreated"))  # the policy's sequence 1

    assert (views.gets, views.saves) == (1, 1)  # read, then one write at its etag: no conflict
    assert timeline(views, "Q1")[-2:] == ["PolicyCreated", "SagaAdvanced"]


def test_a_write_that_conflicted_and_then_failed_leaves_no_stale_copy_for_the_retry():
    world, views = with_writer(8, "Q1")
    created, approved = documents(world, "Q1", "QuoteCreated", "QuoteApproved")
    world.orchestrator.process_documents([created])
    other = Orchestrator(world.orchestrator.saga, world.publisher, views, world.dead_letters,
                         world.clock)  # fmt: skip
    other.process_documents([created, approved])  # this worker's copy is now stale
    views.failing_reads = {"Q1"}
    with pytest.raises(RetryBatch):  # its write conflicts, and the read after it fails
        world.orchestrator.process_documents([approved])
    views.failing_reads, saves = set(), views.saves

    world.orchestrator.process_documents([approved])  # the retry

    assert views.saves == saves  # read first: the stored view has it all, nothing to write
    assert timeline(views, "Q1") == ["QuoteCreated", "QuoteApproved", "SagaStarted"]
