"""Cosmos DB for NoSQL adapters (sync SDK): the event store, the quote views, the dead letters.

One logical partition per stream; one transactional batch per command (its events, each
carrying the command's unique key).
Connecting and creating containers: adapters/cosmos_account.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, cast

from azure.core import MatchConditions
from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from azure.cosmos import ContainerProxy
from azure.cosmos.exceptions import CosmosBatchOperationError, CosmosHttpResponseError

from adapters.cosmos_queries import DUE_AT as _DUE_AT
from adapters.cosmos_queries import utc_key as _utc_key
from adapters.cosmos_queries import view_filters
from application.ports import (
    AppendOutcome,
    ConcurrencyConflict,
    DeadLetter,
    LetterState,
    Outcome,
    SagaCounts,
    TransientFailure,
    Versioned,
    ViewQuery,
)
from application.read_model import ListedView, QuoteView
from application.streams import check_batch
from domain.errors import Unprocessable
from domain.messages import EventEnvelope, document_id

# https://learn.microsoft.com/azure/cosmos-db/concepts-limits#per-request-limits
MAX_BATCH_OPERATIONS = 100
PAGE_SIZE = 100  # a stream of up to 100 events is read in one request
_SYSTEM_PROPERTIES = frozenset({"_rid", "_self", "_etag", "_attachments", "_ts", "_lsn", _DUE_AT})
_FORBIDDEN_ID_CHARS = frozenset("/\\?#")
_READ_STREAM = (
    "SELECT * FROM c WHERE c.streamId = @s AND c.docType IN ('event', 'saga-event')"
    " AND c.sequenceNumber > @after ORDER BY c.sequenceNumber"
)
_HANDLED = (
    "SELECT TOP 1 c.id FROM c WHERE c.streamId = @s AND (c.commandKey = @key OR c.id = @receipt)"
)


class BatchTooLarge(Unprocessable):
    """A command's events do not fit one transactional batch (100 operations, 2 MB); they are
    never split, and the same command decides the same events on every retry, so the batch
    policy parks it."""


@contextmanager
def cosmos_errors(action: str) -> Iterator[None]:
    """Failures that may pass (throttling after the SDK's retries, 5xx, network) -> Transient."""
    try:
        yield
    except CosmosHttpResponseError as error:
        if _is_transient(error.status_code):
            raise TransientFailure(f"{action}: Cosmos DB answered {error.status_code}") from error
        raise
    except (ServiceRequestError, ServiceResponseError) as error:
        raise TransientFailure(f"{action}: {error}") from error


def _is_transient(status: int | None) -> bool:
    return status in {408, 429, 449} or (status or 0) >= 500


def _strip(document: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k not in _SYSTEM_PROPERTIES}


# --- event store -----------------------------------------------------------------------------


class CosmosEventStore:
    """Events as documents `{streamId}:{sequence:010d}` in partition `/streamId`.

    The unique id makes a rival writer of the same sequence fail with 409 (no read needed).
    Each event also carries `commandKey` = `{commandId}:{index in its batch}`, unique per
    partition by the container's unique key policy (infra/cosmos/containers.json): a
    redelivered command fails on its first event with 409 too, so no receipt document is
    written. A read of the event at `expected_version`, last in the same batch, fails it (404)
    when the stream has not got that far. All in one request; a 409 costs one query more, to
    tell a handled command from a moved stream.
    """

    def __init__(self, container: ContainerProxy) -> None:
        self._container = container

    def read_stream(self, stream_id: str, after: int = 0) -> list[EventEnvelope]:
        parameters: list[dict[str, Any]] = [
            {"name": "@s", "value": stream_id},
            {"name": "@after", "value": after},
        ]
        with cosmos_errors(f"reading {stream_id}"):
            pages = self._container.query_items(
                _READ_STREAM,
                parameters=parameters,
                partition_key=stream_id,
                max_item_count=PAGE_SIZE,
            ).by_page()
            return [EventEnvelope.model_validate(doc) for page in pages for doc in page]

    def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[EventEnvelope],
        command_id: str,
    ) -> AppendOutcome:
        check_batch(stream_id, expected_version, events)
        if not command_id or _FORBIDDEN_ID_CHARS & set(command_id):
            raise Unprocessable(f"command id {command_id!r} cannot be part of a Cosmos DB id")
        if len(events) + 1 > MAX_BATCH_OPERATIONS:
            raise BatchTooLarge(
                f"{len(events)} events and a version check exceed the "
                f"{MAX_BATCH_OPERATIONS} operations of one transactional batch; a command may "
                f"emit at most {MAX_BATCH_OPERATIONS - 1} events"
            )
        # Order matters: Cosmos stops at the first failure. A handled command or a moved stream
        # fails on the first event (409); only a batch whose events are all new reaches the
        # read that refuses an append ahead of the stream (404).
        operations: list[tuple[str, tuple[Any, ...]]] = [
            ("create", ({**e.to_document(), "commandKey": command_key(command_id, i)},))
            for i, e in enumerate(events, start=1)
        ]
        if expected_version > 0:
            operations.append(("read", (document_id(stream_id, expected_version),)))
        try:
            with cosmos_errors(f"appending to {stream_id}"):
                self._container.execute_item_batch(operations, partition_key=stream_id)
        except CosmosBatchOperationError as error:
            return self._failed(stream_id, expected_version, command_id, error)
        except CosmosHttpResponseError as error:
            # A batch over 2 MB is refused whole with HTTP 413, not as a failed operation: the SDK
            # raises CosmosHttpResponseError (its emulator test expects just that,
            # azure-sdk-for-python sdk/cosmos/azure-cosmos/tests/test_transactional_batch.py).
            if error.status_code == 413:
                raise BatchTooLarge(_too_large(stream_id, operations)) from error
            raise
        return Outcome.APPENDED

    def _failed(
        self, stream: str, expected: int, command_id: str, error: CosmosBatchOperationError
    ) -> AppendOutcome:
        statuses = [int(r.get("statusCode", 0)) for r in error.operation_responses or []]
        failed = [s for s in statuses if s >= 400 and s != 424]
        status = failed[0] if failed else error.status_code
        if status == 409:
            # The first event's id (the stream moved) or its command key (handled) exists;
            # Cosmos does not say which: https://learn.microsoft.com/azure/cosmos-db/unique-keys
            if self._handled(stream, command_id):
                return Outcome.ALREADY_HANDLED
            raise ConcurrencyConflict(f"{stream} has moved past version {expected}") from error
        if status == 404:
            raise ConcurrencyConflict(f"{stream} has not reached version {expected}") from error
        if _is_transient(status):
            raise TransientFailure(f"appending to {stream}: batch answered {status}") from error
        raise error

    def _handled(self, stream: str, command_id: str) -> bool:
        """Whether `command_id` was appended to `stream`: its first event's key, or a receipt
        document written before keys were folded into the events (docs/cosmos.md)."""
        parameters: list[dict[str, Any]] = [
            {"name": "@s", "value": stream},
            {"name": "@key", "value": command_key(command_id, 1)},
            {"name": "@receipt", "value": f"receipt:{command_id}"},
        ]
        with cosmos_errors(f"checking {command_id} on {stream}"):
            found = self._container.query_items(
                _HANDLED, parameters=parameters, partition_key=stream
            )
            return any(True for _ in found)


def command_key(command_id: str, index: int) -> str:
    """The unique key of the `index`-th (from 1) event a command appended to a stream."""
    return f"{command_id}:{index}"


def _too_large(stream: str, operations: Sequence[tuple[str, tuple[Any, ...]]]) -> str:
    size = len(json.dumps([args for _, args in operations], separators=(",", ":")).encode())
    return (
        f"the {len(operations)} operations for {stream} (about {size:,} bytes) exceed the 2 MB "
        "of one transactional batch; the command's events are not split"
    )


# --- read models -----------------------------------------------------------------------------


class CosmosViewStore:
    """Quote views, one document per quote in partition `/id`, replaced by `_etag`."""

    def __init__(self, container: ContainerProxy) -> None:
        self._container = container

    def get(self, view_id: str) -> Versioned | None:
        with cosmos_errors(f"reading view {view_id}"):
            try:
                doc = self._container.read_item(view_id, partition_key=view_id)
            except CosmosHttpResponseError as error:
                if error.status_code == 404:
                    return None
                raise
        return Versioned(view=_view(doc), etag=doc["_etag"])

    def save(self, view: QuoteView, etag: str | None) -> str:
        """One request, no read: create, or replace if the etag still matches."""
        view_id = view.id
        with cosmos_errors(f"saving view {view_id}"):
            stored = {**view.model_dump(mode="json"), _DUE_AT: _due_at(view)}
            try:
                if etag is None:
                    written = self._container.create_item(stored)
                else:
                    written = self._container.replace_item(
                        view_id, stored, etag=etag, match_condition=MatchConditions.IfNotModified
                    )
            except CosmosHttpResponseError as error:
                # 409: created meanwhile; 412: replaced since read; 404: deleted since read.
                if error.status_code in {404, 409, 412}:
                    raise ConcurrencyConflict(
                        f"view {view_id} changed since it was read"
                    ) from error
                raise
        return str(written["_etag"])

    def due(self, now: datetime, limit: int = 100) -> list[QuoteView]:
        """application.views.is_due as a cross-partition query (used by the time-out timer).

        Deadlines may carry any UTC offset, so `save` stores a fixed-width UTC copy of the
        deadline of every non-terminal saga; comparing those as strings orders them in time.
        """
        query = "SELECT TOP @limit * FROM c WHERE IS_STRING(c.{0}) AND c.{0} <= @now"
        parameters: list[dict[str, Any]] = [
            {"name": "@limit", "value": limit},
            {"name": "@now", "value": _utc_key(now)},
        ]
        with cosmos_errors("querying due sagas"):
            items = self._container.query_items(
                query.format(_DUE_AT), parameters=parameters, enable_cross_partition_query=True
            )
            return [_view(doc) for doc in items]

    def query(self, query: ViewQuery) -> list[ListedView]:
        """application.views.matches as one cross-partition query, ordered by the views
        container's composite index (infra/cosmos/views-indexing-policy.json): real Cosmos DB
        refuses an ORDER BY on two paths without one. Views without a saga.startedAt come
        last: an ORDER BY returns items whose path is undefined, sorted below every value.
        https://learn.microsoft.com/azure/cosmos-db/nosql/query/order-by#remarks
        """
        where, parameters = view_filters(query)
        parameters.append({"name": "@limit", "value": query.limit})
        sql = (
            "SELECT TOP @limit c.id, c.customerId, c.quote, c.saga FROM c"
            f" WHERE {' AND '.join(where)} ORDER BY c.saga.startedAt DESC, c.id DESC"
        )
        with cosmos_errors("querying sagas"):
            items = self._container.query_items(
                sql, parameters=parameters, enable_cross_partition_query=True
            )
            return [ListedView.model_validate(item) for item in items]

    def counts(self, now: datetime) -> SagaCounts:
        """Five COUNT queries: the SDK merges a cross-partition `SELECT VALUE COUNT(1)`, not a
        GROUP BY (azure/cosmos/_execution_context/execution_dispatcher.py refuses other
        cross-partition aggregates)."""
        from domain.saga import SagaStatus

        by_status = {s.value: self._count("c.saga.status = @x", s.value) for s in SagaStatus}
        stuck = self._count(f"IS_STRING(c.{_DUE_AT}) AND c.{_DUE_AT} < @x", _utc_key(now))
        return SagaCounts(by_status, stuck)

    def _count(self, condition: str, value: str) -> int:
        with cosmos_errors("counting sagas"):
            counts = self._container.query_items(
                f"SELECT VALUE COUNT(1) FROM c WHERE {condition}",
                parameters=[{"name": "@x", "value": value}],
                enable_cross_partition_query=True,
            )
            # SELECT VALUE yields the numbers themselves, not the documents the SDK's type says.
            return sum(int(n) for n in cast(Iterable[int], counts))


def _view(document: Mapping[str, Any]) -> QuoteView:
    """The stored view without Cosmos's system properties nor the due-at copy `save` adds."""
    return QuoteView.model_validate(_strip(document))


def _due_at(view: QuoteView) -> str | None:
    from domain.saga import TERMINAL

    saga = view.saga
    if saga is None or saga.deadline is None or saga.status in TERMINAL:
        return None
    return _utc_key(saga.deadline)


class CosmosDeadLetterStore:
    """Parked messages in partition `/id`; the same id twice is stored once."""

    def __init__(self, container: ContainerProxy) -> None:
        self._container = container

    def put(self, letter: DeadLetter) -> None:
        with cosmos_errors(f"parking {letter.id}"):
            try:
                self._container.create_item(_letter_document(letter))
            except CosmosHttpResponseError as error:
                if error.status_code != 409:
                    raise

    def get(self, letter_id: str) -> DeadLetter | None:
        with cosmos_errors(f"reading dead letter {letter_id}"):
            try:
                doc = self._container.read_item(letter_id, partition_key=letter_id)
            except CosmosHttpResponseError as error:
                if error.status_code == 404:
                    return None
                raise
        return DeadLetter.model_validate(doc)

    def list(
        self,
        limit: int = 100,
        correlation_id: str | None = None,
        state: LetterState | None = None,
    ) -> list[DeadLetter]:
        where, parameters = ["true"], [{"name": "@limit", "value": limit}]
        if correlation_id is not None:
            where.append("c.correlationId = @correlation")
            parameters.append({"name": "@correlation", "value": correlation_id})
        if state is not None:  # replayedAt is null until the letter is replayed
            where.append("IS_STRING(c.replayedAt)" if state == "replayed" else
                         "NOT IS_STRING(c.replayedAt)")  # fmt: skip
        query = (
            f"SELECT TOP @limit * FROM c WHERE {' AND '.join(where)} ORDER BY c.receivedAtUtc DESC"
        )
        with cosmos_errors("listing dead letters"):
            items = self._container.query_items(
                query, parameters=parameters, enable_cross_partition_query=True
            )
            return [DeadLetter.model_validate(doc) for doc in items]

    def update_reason(self, letter_id: str, reason: str) -> None:
        self._set(letter_id, "/reason", reason, f"recording a reason on {letter_id}")

    def mark_replayed(self, letter_id: str, at: datetime) -> None:
        value = at.astimezone(UTC).isoformat()
        self._set(letter_id, "/replayedAt", value, f"marking {letter_id} replayed")

    def _set(self, letter_id: str, path: str, value: str, action: str) -> None:
        with cosmos_errors(action):
            try:
                self._container.patch_item(
                    letter_id, letter_id, [{"op": "set", "path": path, "value": value}]
                )
            except CosmosHttpResponseError as error:
                if error.status_code == 404:
                    raise KeyError(letter_id) from error
                raise


def _letter_document(letter: DeadLetter) -> dict[str, Any]:
    return {**letter.model_dump(mode="json"), "receivedAtUtc": _utc_key(letter.receivedAt)}
