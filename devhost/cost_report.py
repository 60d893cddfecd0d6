"""The RU estimate of `devhost cost` and its table. Every count is measured; every RU figure is
an estimate from Microsoft's documented per-operation costs applied to the measured sizes (the
local server charges a constant 1 RU per request, so nothing here is its charge).

Sources:
- point read of a 1 KB item = 1 RU: https://learn.microsoft.com/azure/cosmos-db/request-units
- writing a 1 KB item ≈ 5 RU, more with more indexed properties; reads and writes grow with
  item size: https://learn.microsoft.com/azure/cosmos-db/optimize-cost-reads-writes
- a transactional batch is charged the sum of its operations:
  https://learn.microsoft.com/azure/cosmos-db/nosql/transactional-batch
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from devhost.cosmos_local import Sent

READ_RU_PER_KB = 1.0  # documented: a 1 KB point read
WRITE_RU_PER_KB = 5.0  # documented: a 1 KB write, light indexing ("≈5.x" with the default)
QUERY_BASE_RU = 2.5  # assumed: a query's fixed cost (compile, index lookup) on one partition
LEASE_CHECKPOINT_RU = 8.0  # assumed: a replace of the ~0.5 KB lease document, default index
WRITES = frozenset({"create", "upsert", "replace", "patch", "Create", "Upsert", "Replace"})

ASSUMPTIONS = "\n".join(
    [
        "RU estimate (the local server charges 1 RU per request; these are Microsoft's costs):",
        f"  point read        {READ_RU_PER_KB:g} RU per KB read, rounded up    (documented)",
        f"  write             {WRITE_RU_PER_KB:g} RU per KB written, rounded up (documented, ~5.x)",
        f"  query             {QUERY_BASE_RU:g} RU + 1 RU per KB returned     (assumed fixed part)",
        "  batch             the sum of its operations        (documented)",
        "  feed read         1 RU per KB delivered, >= 1      (assumed: charged as reads)",
        f"  lease checkpoint  {LEASE_CHECKPOINT_RU:g} RU per orchestrator invocation (assumed)",
        "  Indexing is not modelled: what a narrower views policy saves per write only an",
        "  account's x-ms-request-charge shows. Sources: docs/cosmos.md, 'Cost per saga'.",
    ]
)


@dataclass
class Tally:
    """What one outcome's sagas cost, summed over the sagas."""

    sagas: int = 0
    requests: list[Sent] = field(default_factory=list)
    feed_documents: int = 0
    feed_bytes: int = 0
    invocations: Counter[str] = field(default_factory=Counter)
    sends: int = 0  # Event Hubs send_batch calls: one per (hub, partition key) per publish
    messages: int = 0


def kb(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def request_ru(sent: Sent) -> float:
    """The estimated charge of one data request."""
    if sent.kind == "batch":
        return sum(
            WRITE_RU_PER_KB * kb(size) if kind in WRITES else READ_RU_PER_KB
            for kind, size in sent.operations
        )
    if sent.kind in WRITES:
        return WRITE_RU_PER_KB * kb(sent.request_bytes)
    if sent.kind == "query":
        return QUERY_BASE_RU + (sent.response_bytes / 1024)
    if sent.kind == "read":
        return READ_RU_PER_KB * kb(sent.response_bytes)
    return READ_RU_PER_KB


def documents_written(requests: Iterable[Sent]) -> int:
    total = 0
    for sent in requests:
        if sent.kind == "batch":
            total += sum(1 for kind, _ in sent.operations if kind in WRITES)
        elif sent.kind in WRITES and sent.status < 300:
            total += 1
    return total


def by_container_and_kind(requests: Iterable[Sent]) -> Counter[str]:
    """`<container> <kind>` -> count, with the test suffix of a container's id dropped."""
    return Counter(f"{(sent.container or '-').split('-')[0]} {sent.kind}" for sent in requests)


def row(t: Tally) -> dict[str, float]:
    """One outcome's figures per saga."""
    sagas = t.sagas or 1
    data = [r for r in t.requests if r.data]
    invocations = t.invocations["orchestrate"]
    feed_ru = max(t.feed_bytes / 1024, invocations * 1.0)
    return {
        "data requests": len(data) / sagas,
        "metadata requests": (len(t.requests) - len(data)) / sagas,
        "documents written": documents_written(data) / sagas,
        "change-feed documents": t.feed_documents / sagas,
        "orchestrator invocations": invocations / sagas,
        "Event Hubs sends": t.sends / sagas,
        "Event Hubs messages": t.messages / sagas,
        "RU app requests": sum(request_ru(r) for r in data) / sagas,
        "RU trigger (feed + leases)": (feed_ru + invocations * LEASE_CHECKPOINT_RU) / sagas,
    }


def render(
    results: Mapping[str, Mapping[str, Tally]], sagas: int, feed: str, ids: str = "short"
) -> str:
    """results: worker (warm/cold) -> outcome -> Tally."""
    title = f"Cosmos DB cost per saga, {sagas} sagas per outcome, feed delivered {feed!r}"
    lines = [f"{title}, {ids} ids", ""]
    for worker, tallies in results.items():
        outcomes = list(tallies)
        rows = {o: row(tallies[o]) for o in outcomes}
        lines.append(f"{worker} worker".ljust(34) + "".join(o.rjust(14) for o in outcomes))
        for name in next(iter(rows.values())):
            cells = "".join(f"{rows[o][name]:14.1f}" for o in outcomes)
            lines.append(f"  {name}".ljust(34) + cells)
        total = {o: rows[o]["RU app requests"] + rows[o]["RU trigger (feed + leases)"]
                 for o in outcomes}  # fmt: skip
        lines.append("  RU total".ljust(34) + "".join(f"{total[o]:14.1f}" for o in outcomes))
        lines.append("  data requests by container and kind:")
        kinds = {o: by_container_and_kind(r for r in tallies[o].requests if r.data)
                 for o in outcomes}  # fmt: skip
        for key in sorted(set().union(*kinds.values())):
            cells = "".join(f"{kinds[o][key] / sagas:14.1f}" for o in outcomes)
            lines.append(f"    {key}".ljust(34) + cells)
        lines.append("")
    lines.append(ASSUMPTIONS)
    return "\n".join(lines)
