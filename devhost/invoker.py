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
from urllib.parse import urlsplit

import azure.functions as func

from adapters.sqlite_database import SqliteDatabase
from application.ports import ConcurrencyConflict, TransientFailure
from application.telemetry import log
from devhost.context import Context
from devhost.functions import Function

logger = logging.getLogger("devhost")
# Runs of a function whose queued writes conflicted at its end (nothing of it was written), as
# DecisionRunner retries a conflicting append: each run reads the other writer's work first.
COMMIT_ATTEMPTS = 8


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
        started = time.perf_counter()
        for tried in range(1, COMMIT_ATTEMPTS + 1):
            error, value = self._attempt(function, payload, context, verify=tried > 1)
            if not isinstance(error, CommitConflict) or tried == COMMIT_ATTEMPTS:
                break
        if result is not None and error is None:
            result.append(value)
        elapsed = (time.perf_counter() - started) * 1000
        with self._lock:
            self.invocations[function.name] += 1
            if error is not None:
                self.failures[function.name] += 1
        status = value.status_code if isinstance(value, func.HttpResponse) else None
        failed = error is not None or (status is not None and status >= 500)
        level = logging.WARNING if failed else logging.INFO
        if logger.isEnabledFor(level):
            _log_line(level, function, payload, context, count, elapsed, error, status,
                      _ids(correlation_ids) or _created(value))  # fmt: skip
        return error

    def _attempt(
        self, function: Function, payload: object, context: Context, verify: bool
    ) -> tuple[BaseException | None, object]:
        """Run the function in one deferring transaction (adapters/sqlite_database.py): its
        writes are queued and run at its end, so the write lock is held for their SQL only."""
        error, value = None, None
        try:
            with self.database.transaction(deferred=True, verify=verify):
                try:
                    value = function.call(payload, context)
                except Exception as exc:  # the host catches everything a function raises
                    error = exc
        except ConcurrencyConflict as exc:  # a queued write lost to another writer's: none
            error = CommitConflict(exc)  # of the unit's writes was made; run it again
        except Exception as exc:  # the commit itself failed
            error = exc
        return error, value


class CommitConflict(TransientFailure):
    """A unit's queued write conflicted at its end: nothing of it was written."""


def _log_line(
    level: int,
    function: Function,
    payload: object,
    context: Context,
    count: int,
    elapsed: float,
    error: BaseException | None,
    status: int | None,
    ids: str,
) -> None:
    """`orchestrate ok 1.2ms`, `create_quote POST /api/quotes 400 0.9ms` (an HTTP function's
    outcome is its answer's status: a 4xx is the client's, a 5xx a failure), or `... failed`."""
    what = function.name
    if isinstance(payload, func.HttpRequest):
        what += f" {payload.method} {urlsplit(payload.url).path}"
    outcome = "failed" if error is not None else str(status or "ok")
    retry = context.retry_context
    shown = retry.max_retry_count and (error is not None or retry.retry_count)
    log(
        logger,
        level,
        f"{what} {outcome} {elapsed:.1f}ms" + (f": {error!r}" if error is not None else ""),
        correlationIds=ids or None,
        batch=count if count != 1 else None,
        attempt=f"{retry.retry_count + 1}/{retry.max_retry_count + 1}" if shown else None,
    )


def _ids(correlation_ids: Sequence[str], shown: int = 3) -> str:
    unique = list(dict.fromkeys(i for i in correlation_ids if i))
    if not unique:
        return ""
    more = f",+{len(unique) - shown}" if len(unique) > shown else ""
    return ",".join(unique[:shown]) + more


def _created(value: object) -> str:
    """The id of what a request created (the last segment of its answer's Location): the
    correlation id of a create, which has no id in its route."""
    if not isinstance(value, func.HttpResponse) or value.status_code != 201:
        return ""
    location = value.headers.get("Location") or ""
    return urlsplit(location).path.rstrip("/").rpartition("/")[2]
