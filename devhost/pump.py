"""A partition pump: while its host holds the partition's lease, read a batch after the
checkpoint, invoke the function (with its retries), then move the checkpoint. One invocation
at a time per partition, so per-partition order holds whatever the number of hosts."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from adapters.sqlite_database import SqliteDatabase
from devhost.failures import log_failure
from devhost.functions import Function
from devhost.invoker import Invoker
from devhost.leases import LeaseKeeper

logger = logging.getLogger("devhost")
T = TypeVar("T")


@dataclass(frozen=True)
class Source(Generic[T]):
    """Where a pump reads: `read(checkpoint)` -> items after it, `position(item)`,
    `payload(items)` -> what the function receives, `correlation(item)` -> an id to log."""

    lease: str
    topic: str  # commit notifications of this process that may mean new items
    start: int  # the checkpoint before the first item
    read: Callable[[int], Sequence[T]]
    position: Callable[[T], int]
    payload: Callable[[Sequence[T]], object]
    correlation: Callable[[T], str]
    # False: an item the function is not given, only read past (as a document that is not in
    # the triggered container); a batch of nothing else moves the checkpoint uninvoked.
    delivers: Callable[[T], bool] = lambda _: True
    # Leases that hosts share out evenly (a function's feed ranges, a hub's partitions); by
    # default the lease is a group of its own.
    group: str = ""


class Pump(threading.Thread, Generic[T]):
    def __init__(
        self,
        function: Function,
        source: Source[T],
        keeper: LeaseKeeper,
        invoker: Invoker,
        database: SqliteDatabase,
        stopping: threading.Event,
        poll_seconds: float = 0.05,
        acquire_seconds: float = 0.5,
    ) -> None:
        super().__init__(name=f"pump {source.lease}", daemon=True)
        self.function, self.source, self.keeper, self.invoker = function, source, keeper, invoker
        self.database, self.stopping = database, stopping
        self.poll_seconds, self.acquire_seconds = poll_seconds, acquire_seconds
        self.lease, self.group = source.lease, source.group or source.lease

    def run(self) -> None:
        lease = self.source.lease
        while not self.stopping.is_set():
            try:
                if not self._step(lease):
                    continue
            except (
                Exception
            ) as error:  # the pump must outlive a store hiccup; the lease protects order
                log_failure(logger, f"pump {lease} (retrying)", error)
                self.stopping.wait(1.0)

    def _step(self, lease: str) -> bool:
        if not self.keeper.holds(lease):
            if not self.keeper.try_acquire(lease):
                self.stopping.wait(self.acquire_seconds)
                return False
            logger.debug("%s took lease %s", self.keeper.owner, lease)
        if self.keeper.release_surplus(lease):
            logger.debug("%s gave lease %s back", self.keeper.owner, lease)
            return False
        generation = self.database.generation(self.source.topic)
        checkpoint = self.keeper.checkpoint(lease)
        items = self.source.read(self.source.start if checkpoint is None else checkpoint)
        if not items:
            self.database.wait_for_change([self.source.topic], [generation], self.poll_seconds)
            return False
        if not self.keeper.holds(lease):
            return False
        delivered = [item for item in items if self.source.delivers(item)]
        finished = (
            not delivered
            or self.invoker.invoke(
                self.function,
                lambda: self.source.payload(delivered),
                len(delivered),
                [self.source.correlation(item) for item in delivered],
            ).finished
        )
        if finished:  # as in Azure: after the last retry too, failed or not
            self.keeper.save_checkpoint(lease, self.source.position(items[-1]))
        return True
