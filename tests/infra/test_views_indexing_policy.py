"""The views container's indexing policy indexes exactly the paths CosmosViewStore's queries
filter and sort on (the timeline and the quote's terms never): every query path the adapter
sends is read off the SQL it sends, here to a container that records it.

Cosmos DB serves a filter on a path the policy excludes by scanning (more RU, same answer),
but refuses an ORDER BY it has no index for: one path needs a range index on it, two paths a
composite index in the same orders.
https://learn.microsoft.com/azure/cosmos-db/index-policy#composite-indexes
https://learn.microsoft.com/azure/cosmos-db/nosql/query/order-by#remarks
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.cosmos import CosmosViewStore
from adapters.cosmos_account import INFRA
from application.ports import PageKey, ViewQuery

pytestmark = pytest.mark.infra

POLICY = json.loads((INFRA / "views-indexing-policy.json").read_text())
AT = datetime(2024, 6, 1, tzinfo=UTC)
_PATH = re.compile(r"\bc((?:\.\w+)+)")


class RecordingContainer:
    """Answers every query with no items and keeps its SQL."""

    def __init__(self) -> None:
        self.sql: list[str] = []

    def query_items(self, query: str, **_: Any) -> list[Any]:
        self.sql.append(query)
        return []


def every_query() -> list[str]:
    container = RecordingContainer()
    views = CosmosViewStore(container)  # type: ignore[arg-type]
    views.due(AT)
    views.counts(AT)
    for after in (None, PageKey(None, "Q1"), PageKey("2024-06-01T00:00:00", "Q1")):
        views.query(ViewQuery(status="Running", stuck_at=AT, customer_id="C1", started_from=AT,
                              started_to=AT, after=after))  # fmt: skip
        views.query(ViewQuery(with_saga=False, customer_id="C1", after=after))
    return container.sql


def used_paths(sql: list[str]) -> set[str]:
    """The paths of the WHERE and ORDER BY clauses (what SELECT projects needs no index)."""
    clauses = [text.split(" WHERE ", 1)[1] for text in sql]
    return {
        f"/{m.group(1)[1:].replace('.', '/')}" for text in clauses for m in _PATH.finditer(text)
    }


def indexed(path: str) -> bool:
    """The most specific included or excluded path decides (`/?` beats `/*`)."""
    rules = [(rule["path"], True) for rule in POLICY["includedPaths"]]
    rules += [(rule["path"], False) for rule in POLICY["excludedPaths"]]
    best: tuple[int, bool] | None = None
    for pattern, included in rules:
        if pattern == f"{path}/?":
            rank = 2 * len(path) + 1
        elif pattern.endswith("/*") and (path + "/").startswith(pattern[:-1]):
            rank = 2 * len(pattern[:-2])
        else:
            continue
        if best is None or rank > best[0]:
            best = (rank, included)
    return best is not None and best[1]


def test_every_path_a_views_query_filters_or_sorts_on_is_indexed():
    paths = used_paths(every_query())
    assert {"/saga/status", "/saga/startedAt", "/customerId", "/sagaDueAtUtc", "/id"} <= paths
    assert [p for p in sorted(paths) if not indexed(p)] == []


def test_the_policy_indexes_nothing_the_queries_do_not_use():
    paths = used_paths(every_query())
    included = {rule["path"].removesuffix("/?") for rule in POLICY["includedPaths"]}
    assert included == paths
    for unused in ("/timeline/eventType", "/quote/premium", "/saga/deadline", "/docType"):
        assert not indexed(unused), unused


def test_every_two_path_order_by_has_a_composite_index_in_its_orders():
    composites = [
        [(p["path"], p["order"]) for p in composite] for composite in POLICY["compositeIndexes"]
    ]
    orders = {
        tuple(re.findall(r"c\.([\w.]+) (ASC|DESC)", text.split("ORDER BY", 1)[1]))
        for text in every_query()
        if "ORDER BY" in text
    }
    assert orders, "the saga query sorts"
    for order in orders:
        wanted = [(f"/{p.replace('.', '/')}", f"{d.lower()}ending") for p, d in order]
        assert len(wanted) == 1 or wanted in composites, order
        assert all(indexed(path) for path, _ in wanted), order
