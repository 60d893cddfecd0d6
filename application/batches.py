"""The one policy for a trigger batch (the command inbox's, the orchestrator's): a message that
is Unprocessable is parked at once; any other failure is retried with the batch, and parked
with its real reason on the trigger's final attempt, after which the checkpoint moves on.

Both triggers checkpoint a batch whatever the function did once its retries are spent, so a
message is only kept if this policy parks it. What succeeded is kept and is idempotent when
the batch comes again (receipts, saga steps by input id).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from application.ports import TransientFailure
from application.telemetry import log
from domain.errors import Unprocessable

M = TypeVar("M")
R = TypeVar("R")


@dataclass
class BatchReport:
    processed: int = 0
    skipped: int = 0
    dead_lettered: int = 0


class RetryBatch(TransientFailure):
    """Some messages failed in a way that may pass: the trigger retries the whole batch."""

    def __init__(self, report: BatchReport, failures: list[Exception]) -> None:
        super().__init__(f"{len(failures)} message(s) failed, first: {failures[0]!r}")
        self.report, self.failures = report, failures


class BatchPolicy(Generic[M]):
    """One delivery of a batch: `attempt` each message, then `done`."""

    def __init__(
        self,
        final_attempt: bool,
        park: Callable[[M, str], None],
        ids: Callable[[M], Mapping[str, object]],
        logger: logging.Logger,
    ) -> None:
        self.final_attempt, self._park, self._ids, self._logger = final_attempt, park, ids, logger
        self.report = BatchReport()
        self._failures: list[Exception] = []

    def attempt(self, message: M, work: Callable[[M], R]) -> R | None:
        """`work(message)`'s result; None when the message was parked or left for the retry."""
        try:
            result = work(message)
        except Exception as error:
            self.fail(message, error)
            return None
        self.report.processed += 1
        return result

    def fail(self, message: M, error: Exception) -> None:
        """`message` failed with `error`: parked at once if Unprocessable, else left for the
        retry (parked with the reason on the final attempt)."""
        if isinstance(error, Unprocessable):
            self.park(message, str(error))
        elif self.final_attempt:
            self.park(message, f"failed after the last retry: {error!r}")
        else:
            log(
                self._logger,
                logging.WARNING,
                f"failed, will retry: {error!r}",
                **self._ids(message),
            )
            self._failures.append(error)

    def park(self, message: M, reason: str) -> None:
        self._park(message, reason)
        self.report.dead_lettered += 1

    def done(self) -> BatchReport:
        """The report; RetryBatch (a TransientFailure) if anything is left for the retry."""
        if self._failures:
            raise RetryBatch(self.report, self._failures)
        return self.report
