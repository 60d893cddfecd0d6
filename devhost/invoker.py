"""Invoking a function as the host does: a context per attempt, the function's retry policy,
one log line per invocation; and, locally, one SQLite transaction per invocation so that all
of its appends, view writes and published messages commit together (one fsync)."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from adapters.sqlite_database import SqliteDatabase
from devhost.context import Context
from devhost.functions import Function

logger = logging.getLogger("devhost")


@dataclass(frozen=True)
class Outcome:
    succeeded: bool  # the last attempt succeeded
    finished: bool  # False: stopped between retries (the checkpoint must not move)
    attempts: int


class Invoker:
    def __init__(self, database: SqliteDatabase, stopping: threading.Event) -> None:
        self.database, self.stopping = database, stopping
        self._lock = threading.Lock()
        self.invocations: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()

    def invoke(
        self,
        function: Function,
        payload: Callable[[], object],
        count: int,
        correlation_ids: Sequence[str] = (),
        trace_parent: str = "",
    ) -> Outcome:
        """Run the function with its retry policy; partial work of a failed attempt commits,
        as it would have against Cosmos DB, and the next attempt repeats the batch."""
        retries = function.retry.max_retry_count
        for attempt in range(retries + 1):
            if attempt and self.stopping.wait(function.retry.delay_before(attempt)):
                return Outcome(False, False, attempt)
            context = Context(function.name, attempt, retries, trace_parent)
            error = self.call(function, payload(), context, count, correlation_ids)
            if error is None:
                return Outcome(True, True, attempt + 1)
        return Outcome(False, True, retries + 1)

    def call(
        self,
        function: Function,
        payload: object,
        context: Context,
        count: int,
        correlation_ids: Sequence[str] = (),
        result: list[object] | None = None,
    ) -> BaseException | None:
        """One attempt in one (lazily begun) transaction; the error it raised, if any."""
        started, error = time.perf_counter(), None
        try:
            with self.database.transaction(lazy=True):
                try:
                    value = function.call(payload, context)
                    if result is not None:
                        result.append(value)
                except Exception as exc:  # the host catches everything a function raises
                    error = exc
        except Exception as exc:  # the commit itself failed
            error = exc
        elapsed = (time.perf_counter() - started) * 1000
        with self._lock:
            self.invocations[function.name] += 1
            if error is not None:
                self.failures[function.name] += 1
        level = logging.INFO if error is None else logging.WARNING
        if not logger.isEnabledFor(level):
            return error
        retry = context.retry_context
        logger.log(
            level,
            "%s batch=%d %.1fms %s%s%s",
            function.name,
            count,
            elapsed,
            "ok" if error is None else f"failed: {error!r}",
            f" attempt={retry.retry_count + 1}/{retry.max_retry_count + 1}"
            if retry.max_retry_count
            else "",
            _ids(correlation_ids),
        )
        return error


def _ids(correlation_ids: Sequence[str], shown: int = 3) -> str:
    unique = list(dict.fromkeys(i for i in correlation_ids if i))
    if not unique:
        return ""
    more = f",+{len(unique) - shown}" if len(unique) > shown else ""
    return f" correlationIds={','.join(unique[:shown])}{more}"
