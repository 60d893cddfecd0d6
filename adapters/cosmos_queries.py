"""The Cosmos DB SQL of the saga query (CosmosViewStore.query): application.views.matches and
the page keyset as a WHERE clause with parameters, and the fixed-width UTC texts it compares."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from application.ports import ViewQuery
from application.views import utc_text

DUE_AT = "sagaDueAtUtc"  # stored beside a view, never returned: see CosmosViewStore.due


def utc_key(moment: datetime) -> str:
    """A fixed-width UTC text: ISO strings with other offsets or no fraction do not sort."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def view_filters(query: ViewQuery) -> tuple[list[str], list[dict[str, Any]]]:
    where, parameters = ["true"], []

    def given(condition: str, name: str, value: object) -> None:
        where.append(condition)
        parameters.append({"name": name, "value": value})

    if query.with_saga:
        where.append("IS_STRING(c.saga.status)")
    if query.status is not None:
        given("c.saga.status = @status", "@status", query.status)
    if query.stuck_at is not None:  # `save` stores DUE_AT for non-terminal sagas only
        given(f"IS_STRING(c.{DUE_AT}) AND c.{DUE_AT} < @now", "@now", utc_key(query.stuck_at))
    if query.customer_id is not None:
        given("c.customerId = @customer", "@customer", query.customer_id)
    # An undefined startedAt compares as undefined: a date range leaves such views out.
    if query.started_from is not None:
        given("c.saga.startedAt >= @from", "@from", utc_text(query.started_from))
    if query.started_to is not None:
        given("c.saga.startedAt <= @to", "@to", utc_text(query.started_to))
    if query.after is not None:
        parameters.append({"name": "@id", "value": query.after.view_id})
        if query.after.started_at is None:
            where.append("(NOT IS_DEFINED(c.saga.startedAt) AND c.id < @id)")
        else:
            given(
                "(c.saga.startedAt < @started OR (c.saga.startedAt = @started AND c.id < @id)"
                " OR NOT IS_DEFINED(c.saga.startedAt))",
                "@started",
                query.after.started_at,
            )
    return where, parameters
