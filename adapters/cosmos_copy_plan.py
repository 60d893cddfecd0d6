"""Which `commandKey` each document of an old-layout events container gets in the new
containers (docs/cosmos.md, 'Receipts folded into the events: existing data'). Pure: rows in,
plan out; adapters/cosmos_copy.py reads and writes.

The key is what `CosmosEventStore.append` writes: `{command_id}:{index in its batch}`, where
`command_id` is what the DecisionRunner passed to `append` (application/deciding.py: the command
id, or a saga input's id, i.e. the causing event's eventId or a time-out's / cancellation's id).
An old batch's receipt `receipt:{command_id}` (written by the old adapter in the same batch,
with `version` = the batch's last sequence) names that id exactly; an event written by the
current adapter already carries its key. Only an event with neither falls back to its
`causationId` (the runner sets it to the same id) counted per stream from 1.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# What pass 1 reads of every document: enough to plan, a fraction of its size.
PLAN_QUERY = (
    "SELECT c.id, c.streamId, c.docType, c.sequenceNumber, c.causationId, c.commandKey,"
    " c.commandId, c.version FROM c"
)
TARGET_OF = {"event": "events", "saga-event": "sagas"}  # docType -> target container
SAGA_PREFIX = "saga-"  # domain.messages.SAGA_CATEGORY's streams

Ref = tuple[str, str]  # (streamId, id): a document's identity in a /streamId container


class PlanError(ValueError):
    """The source holds something the copy cannot key safely; nothing has been written."""


@dataclass
class Plan:
    keys: dict[Ref, str] = field(default_factory=dict)  # every document to write -> its key
    target: dict[Ref, str] = field(default_factory=dict)  # -> "events" | "sagas"
    dropped: set[Ref] = field(default_factory=set)  # receipts whose events carry the key
    counts: Counter[str] = field(default_factory=Counter)

    def to_write(self, target: str) -> dict[Ref, str]:
        return {ref: key for ref, key in self.keys.items() if self.target[ref] == target}


def command_key(command_id: str, index: int) -> str:
    """adapters.cosmos.command_key, restated so the plan stays free of the SDK."""
    return f"{command_id}:{index}"


def plan(rows: Iterable[Mapping[str, Any]]) -> Plan:
    """Key every event, decide every receipt; PlanError on an unknown document or a key that
    two documents of one stream would share."""
    events: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    receipts: dict[str, dict[int, Mapping[str, Any]]] = defaultdict(dict)
    result = Plan()
    for row in rows:
        doc_type, stream = row.get("docType"), str(row["streamId"])
        if doc_type == "receipt":
            receipts[stream][int(row["version"])] = row
        elif doc_type in TARGET_OF:
            if (doc_type == "saga-event") != stream.startswith(SAGA_PREFIX):
                raise PlanError(f"{row['id']} is a {doc_type} on stream {stream}")
            events[stream].append(row)
        else:
            raise PlanError(f"{row['id']} in {stream} has docType {doc_type!r}: not an event")
    for stream in events.keys() | receipts.keys():
        _plan_stream(stream, events.get(stream, []), receipts.get(stream, {}), result)
    return result


def _plan_stream(
    stream: str,
    events: list[Mapping[str, Any]],
    receipts: dict[int, Mapping[str, Any]],
    result: Plan,
) -> None:
    keys: dict[Ref, str] = {}
    pending: list[Mapping[str, Any]] = []  # unkeyed events since the last batch boundary
    used: set[int] = set()
    seen: Counter[str] = Counter()

    def orphans() -> None:  # neither a receipt nor a key: the runner's causationId
        for row in pending:
            seen[row["causationId"]] += 1
            keys[_ref(row)] = command_key(str(row["causationId"]), seen[row["causationId"]])
            result.counts["keyed from causationId"] += 1
        pending.clear()

    for row in sorted(events, key=lambda r: int(r["sequenceNumber"])):
        result.target[_ref(row)] = TARGET_OF[row["docType"]]
        result.counts[row["docType"]] += 1
        if row.get("commandKey"):  # written by the current adapter: its key stands
            orphans()
            keys[_ref(row)] = str(row["commandKey"])
            result.counts["keyed already"] += 1
            continue
        pending.append(row)
        receipt = receipts.get(int(row["sequenceNumber"]))
        if receipt is None:
            continue
        # The old adapter's batch: every unkeyed event since the previous boundary.
        used.add(int(row["sequenceNumber"]))
        command_id = str(receipt["commandId"])
        for index, batch_row in enumerate(pending, start=1):
            keys[_ref(batch_row)] = command_key(command_id, index)
            if batch_row.get("causationId") != command_id:
                result.counts["causationId is not the receipt's command"] += 1
        result.counts["keyed from receipt"] += len(pending)
        pending.clear()
    orphans()
    for version, receipt in receipts.items():
        ref = _ref(receipt)
        result.counts["receipt"] += 1
        if version in used:
            result.dropped.add(ref)  # its first event holds {commandId}:1, which append checks
        else:  # no batch ends there: keep it, the conflict query still reads receipt ids
            keys[ref] = str(receipt["id"])
            first = str(receipt["streamId"]).startswith(SAGA_PREFIX)
            result.target[ref] = "sagas" if first else "events"
            result.counts["receipt kept"] += 1
    duplicated = [k for k, n in Counter(keys.values()).items() if n > 1]
    if duplicated:
        raise PlanError(f"{stream}: two documents would share commandKey {duplicated[0]!r}")
    result.keys.update(keys)


def _ref(row: Mapping[str, Any]) -> Ref:
    return (str(row["streamId"]), str(row["id"]))
