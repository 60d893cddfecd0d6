"""Copy an events container of the old layout (receipt documents, saga streams mixed in, no
unique key) into keyed events and sagas containers: plan every key first (one light
cross-partition read, adapters/cosmos_copy_plan.py), then copy page by page, then verify.

Idempotent and resumable: a document already in its target under its key (an earlier run) is
skipped; any other is created under its own id, and a 409 then counts as done only if the
target holds that very document; anything else stops the copy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from azure.cosmos import ContainerProxy, CosmosClient
from azure.cosmos.exceptions import CosmosHttpResponseError

from adapters.cosmos import cosmos_errors
from adapters.cosmos_account import ensure_containers, require_command_key
from adapters.cosmos_copy_plan import PLAN_QUERY, Plan, PlanError, Ref, plan

SYSTEM_PROPERTIES = frozenset({"_rid", "_self", "_etag", "_attachments", "_ts", "_lsn"})
PAGE_SIZE = 100
STREAM_PARTITION_KEY = "/streamId"  # infra/cosmos/containers.json, events and sagas

__all__ = ["CopyConflict", "CopyReport", "PlanError", "copy_events", "open_targets", "verify"]


class CopyConflict(RuntimeError):
    """A target already holds a different document under an id or key the copy writes."""


@dataclass
class CopyReport:
    plan: Plan
    written: int = 0  # created by this run
    present: int = 0  # found already copied (an earlier run)
    problems: list[str] = field(default_factory=list)  # from the verification
    others: int = 0  # target documents from elsewhere (another source copied into them)

    @property
    def verified(self) -> bool:
        return not self.problems


def open_targets(
    client: CosmosClient, database: str, names: Mapping[str, str], create: bool
) -> dict[str, ContainerProxy]:
    """The events and sagas targets. `names` maps every logical container (events, sagas,
    leases, views, deadletters) to its id; with `create`, ensure_containers creates what is
    missing with infra/cosmos/containers.json's partition key, indexing and unique keys (an
    existing container is left as it is). Without it, both targets must exist (Bicep)."""
    if create:
        with cosmos_errors("creating containers"):
            containers = ensure_containers(client, database, names)
        return {n: containers[n] for n in ("events", "sagas")}
    db = client.get_database_client(database)
    targets = {n: db.get_container_client(names[n]) for n in ("events", "sagas")}
    for logical, container in targets.items():
        try:
            container.read()
        except CosmosHttpResponseError as error:
            raise ValueError(
                f"target {logical} container {names[logical]!r} cannot be read "
                f"({error.status_code}): deploy it (Bicep) or pass --create-targets"
            ) from error
    return targets


def copy_events(
    source: ContainerProxy,
    targets: Mapping[str, ContainerProxy],
    *,
    dry_run: bool = False,
    page_size: int = PAGE_SIZE,
    out: Callable[[str], None] = print,
) -> CopyReport:
    """Plan, copy (unless `dry_run`) and verify; PlanError before any write if the source
    cannot be keyed, CopyConflict if a target holds something else."""
    if source.id in {t.id for t in targets.values()}:
        raise ValueError(f"the source {source.id!r} cannot also be a target")
    report = CopyReport(plan(_documents(source, PLAN_QUERY, page_size)))
    for kind, count in sorted(report.plan.counts.items()):
        out(f"source {source.id}: {kind}: {count}")
    verb = "would copy" if dry_run else "copying"
    for target in ("events", "sagas"):
        out(f"{verb} to {target} {targets[target].id}: {len(report.plan.to_write(target))}")
    out(f"receipts left out (their events carry the key): {len(report.plan.dropped)}")
    if dry_run:
        out("dry run: nothing written")
        return report
    # What an earlier run copied, read in one light query per target: a resumed or repeated
    # run skips it instead of paying a refused create (and a query) per document.
    held = {name: _keys_in(container) for name, container in targets.items()}
    for document in _documents(source, "SELECT * FROM c", page_size):
        ref: Ref = (str(document["streamId"]), str(document["id"]))
        if ref in report.plan.dropped:
            continue
        if ref not in report.plan.keys:
            raise PlanError(f"{ref[1]} appeared in {ref[0]} after the plan: stop the app first")
        key, target = report.plan.keys[ref], report.plan.target[ref]
        if ref in held[target]:
            if held[target][ref] != key:
                raise CopyConflict(
                    f"{targets[target].id} holds {ref[1]} in {ref[0]} under commandKey "
                    f"{held[target][ref]!r}, not {key!r}"
                )
            report.present += 1
            continue
        body = {k: v for k, v in document.items() if k not in SYSTEM_PROPERTIES}
        body["commandKey"] = key
        if _create(targets[target], body):
            report.written += 1
        else:
            report.present += 1
    out(f"written: {report.written}, already there: {report.present}")
    report.problems, report.others = verify(report.plan, targets)
    if report.others:
        out(f"note: the targets hold {report.others} documents that are not from this source")
    out("verified: every source document accounted for" if report.verified else "NOT verified:")
    for problem in report.problems:
        out(f"  {problem}")
    return report


def verify(plan: Plan, targets: Mapping[str, ContainerProxy]) -> tuple[list[str], int]:
    """Problems: a planned document missing from its target or under another key, a target
    not keyed on /commandKey or not partitioned by /streamId. And how many target documents
    the plan does not know (from a second source container copied into the same targets)."""
    problems, others = [], 0
    for name, container in targets.items():
        found = _keys_in(container)
        wanted = plan.to_write(name)
        missing = [ref for ref in wanted if ref not in found]
        wrong = [ref for ref, key in wanted.items() if ref in found and found[ref] != key]
        if missing:
            problems.append(f"{name}: {len(missing)} missing, e.g. {missing[0]}")
        if wrong:
            problems.append(f"{name}: {len(wrong)} with another commandKey, e.g. {wrong[0]}")
        others += len(found.keys() - wanted.keys())
        properties = container.read()
        if properties["partitionKey"]["paths"] != [STREAM_PARTITION_KEY]:
            problems.append(f"{name}: partition key {properties['partitionKey']['paths']}")
        try:
            require_command_key(container)
        except ValueError as error:
            problems.append(f"{name}: {error}")
    return problems, others


def _keys_in(container: ContainerProxy) -> dict[Ref, str | None]:
    query = "SELECT c.id, c.streamId, c.commandKey FROM c"
    return {
        (str(d["streamId"]), str(d["id"])): d.get("commandKey")
        for d in _documents(container, query)
    }


def _documents(container: ContainerProxy, query: str, page_size: int = PAGE_SIZE) -> Iterator[Any]:
    """Every result of a cross-partition query, `page_size` per request."""
    with cosmos_errors(f"reading {container.id}"):
        pages = container.query_items(
            query, enable_cross_partition_query=True, max_item_count=page_size
        ).by_page()
        for page in pages:
            yield from page


def _create(container: ContainerProxy, body: dict[str, Any]) -> bool:
    """True if created; False if this very document is there already (an earlier run)."""
    with cosmos_errors(f"copying {body['id']}"):
        try:
            container.create_item(body)
            return True
        except CosmosHttpResponseError as error:
            if error.status_code != 409:
                raise
        # 409: the id or the unique commandKey is taken (Cosmos does not say which). Only the
        # same document under the same id is done.
        holders = list(
            container.query_items(
                _HOLDERS,
                parameters=[
                    {"name": "@s", "value": body["streamId"]},
                    {"name": "@id", "value": body["id"]},
                    {"name": "@key", "value": body["commandKey"]},
                ],
                partition_key=body["streamId"],
            )
        )
    same = [{k: v for k, v in d.items() if k not in SYSTEM_PROPERTIES} == body for d in holders]
    if same != [True]:
        ids = sorted(str(d["id"]) for d in holders)
        raise CopyConflict(
            f"{container.id} holds {ids} in {body['streamId']}, not the {body['id']} with "
            f"commandKey {body['commandKey']!r} the copy writes"
        )
    return False


_HOLDERS = "SELECT * FROM c WHERE c.streamId = @s AND (c.id = @id OR c.commandKey = @key)"
