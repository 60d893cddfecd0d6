"""A partition pump invokes its function as the Azure host does: retry context counting the
attempts, the checkpoint moved only after the function (and its retries) finished."""

import threading
import time

import pytest

from adapters.sqlite_database import SqliteDatabase
from devhost.functions import Function
from devhost.invoker import Invoker
from devhost.leases import LeaseKeeper
from devhost.pump import Pump, Source
from devhost.retry import RetryPolicy
from triggers.retries import is_final_attempt

pytestmark = pytest.mark.unit


class Items:
    """A partition of numbered items and a function that fails the first `failures` times."""

    def __init__(self, count, failures):
        self.items, self.failures = list(range(1, count + 1)), failures
        self.calls: list[tuple[list[int], int, bool]] = []

    def function(self, retries):
        def handle(batch, context):
            self.calls.append((list(batch), context.retry_context.retry_count,
                               is_final_attempt(context)))  # fmt: skip
            if len(self.calls) <= self.failures:
                raise RuntimeError("transient")

        trigger = {"type": "eventHubTrigger", "name": "batch"}
        return Function("handle", "eventHubTrigger", trigger, RetryPolicy(retries), handle, True)

    def source(self):
        return Source(
            lease="p0",
            topic="p0",
            start=0,
            read=lambda after: [i for i in self.items if i > after][:10],
            position=lambda item: item,
            payload=list,
            correlation=str,
        )


def run_pump(tmp_path, items, retries, seconds=0.5):
    database = SqliteDatabase(tmp_path / "store.db")
    stopping = threading.Event()
    keeper = LeaseKeeper(database, "me", ["p0"], ttl=5)
    keeper.heartbeat()
    pump = Pump(items.function(retries), items.source(), keeper, Invoker(database, stopping),
                database, stopping, poll_seconds=0.01)  # fmt: skip
    pump.start()
    time.sleep(seconds)
    stopping.set()
    pump.join(5)
    checkpoint = keeper.checkpoint("p0")
    database.close()
    return checkpoint


def test_a_failed_batch_is_retried_with_a_counting_retry_context_then_checkpointed(tmp_path):
    items = Items(3, failures=2)
    assert run_pump(tmp_path, items, retries=3) == 3
    assert items.calls == [([1, 2, 3], 0, False), ([1, 2, 3], 1, False), ([1, 2, 3], 2, False)]


def test_after_the_last_retry_the_checkpoint_moves_on_as_in_azure(tmp_path):
    items = Items(3, failures=10)
    assert run_pump(tmp_path, items, retries=2) == 3
    assert [(retry, final) for _, retry, final in items.calls] == [
        (0, False),
        (1, False),
        (2, True),
    ]
