"""Timer triggers on their NCRONTAB schedule (UTC), one host at a time (a lease, as the
Functions host's singleton lock); with useMonitor the last occurrence is kept, so a schedule
missed while no host ran fires once at start with past_due set."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from devhost import ncrontab, payloads
from devhost.failures import log_failure
from devhost.functions import Function
from devhost.invoker import Invoker
from devhost.leases import LeaseKeeper

logger = logging.getLogger("devhost")
PAST_DUE_SECONDS = 5.0  # later than this behind its schedule: past due


class TimerRunner(threading.Thread):
    def __init__(
        self,
        function: Function,
        keeper: LeaseKeeper,
        invoker: Invoker,
        stopping: threading.Event,
    ) -> None:
        super().__init__(name=f"timer {function.name}", daemon=True)
        self.function, self.keeper, self.invoker, self.stopping = (
            function,
            keeper,
            invoker,
            stopping,
        )
        self.schedule = ncrontab.parse(function.trigger["schedule"])
        self.lease = lease_name(function)
        self.monitor = bool(function.trigger.get("useMonitor", True))

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self._step()
            except Exception as error:
                log_failure(logger, f"timer {self.function.name} (retrying)", error)
                self.stopping.wait(1.0)

    def _step(self) -> None:
        if not self.keeper.holds(self.lease):
            if not self.keeper.try_acquire(self.lease):
                self.stopping.wait(1.0)
                return
            if not self.monitor:  # no schedule monitor: nothing was missed
                self._mark(datetime.now(UTC))
        now = datetime.now(UTC)
        last = self.keeper.checkpoint(self.lease)
        if last is None:
            self._mark(now)
            return
        due = self.schedule.next_after(datetime.fromtimestamp(last, UTC))
        if due > now:
            self.stopping.wait(min((due - now).total_seconds(), 1.0))
            return
        past_due = (now - due).total_seconds() > PAST_DUE_SECONDS
        host_data = payloads.timer(
            past_due, datetime.fromtimestamp(last, UTC), self.schedule.next_after(now), now
        )
        outcome = self.invoker.invoke(
            self.function, lambda: payloads.decode(self.function.trigger_type, host_data), 1
        )
        if outcome.finished:  # missed occurrences fire once, then the schedule resumes
            self._mark(now if past_due else due)

    def _mark(self, fired: datetime) -> None:
        self.keeper.save_checkpoint(self.lease, int(fired.timestamp()))


def lease_name(function: Function) -> str:
    return f"timer:{function.name}"
