"""The copy's plan: which commandKey each old document gets, from receipts, from a key already
written, or from causationId; the cases real data of both adapters cannot be keyed from."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.cosmos_copy_plan import PlanError, plan
from tests.support.builders import event

pytestmark = pytest.mark.unit


def row(stream: str, sequence: int, cause: str, key: str | None = None) -> dict[str, Any]:
    document = event(stream, sequence).to_document() | {"causationId": cause}
    return document | ({"commandKey": key} if key else {})


def receipt(stream: str, command_id: str, version: int) -> dict[str, Any]:
    return {"id": f"receipt:{command_id}", "streamId": stream, "docType": "receipt",
            "commandId": command_id, "version": version}  # fmt: skip


def keys(rows: list[dict[str, Any]]) -> dict[str, str]:
    return {ref[1]: key for ref, key in plan(rows).keys.items()}


def test_a_receipts_batch_runs_from_the_previous_boundary_to_its_version():
    rows = [row("quote-1", n, "x") for n in (1, 2, 3)]
    rows += [receipt("quote-1", "cmd-a", 2), receipt("quote-1", "cmd-b", 3)]

    assert keys(rows) == {"quote-1:0000000001": "cmd-a:1", "quote-1:0000000002": "cmd-a:2",
                          "quote-1:0000000003": "cmd-b:1"}  # fmt: skip


def test_an_event_the_current_adapter_wrote_keeps_its_key_and_ends_a_batch():
    rows = [row("quote-1", 1, "c-1", key="c-1:1"), row("quote-1", 2, "c-2")]
    rows += [receipt("quote-1", "c-2", 2)]

    assert keys(rows) == {"quote-1:0000000001": "c-1:1", "quote-1:0000000002": "c-2:1"}


def test_an_event_without_receipt_or_key_counts_its_causation_id_in_the_stream():
    rows = [row("quote-1", 1, "c-1"), row("quote-1", 2, "c-1"), row("quote-1", 3, "c-2")]

    assert list(keys(rows).values()) == ["c-1:1", "c-1:2", "c-2:1"]


def test_a_receipt_no_batch_ends_at_is_kept_under_its_own_id_as_its_key():
    result = plan([row("quote-1", 1, "c-1"), receipt("quote-1", "c-1", 1),
                   receipt("quote-1", "lost", 7)])  # fmt: skip

    assert result.keys[("quote-1", "receipt:lost")] == "receipt:lost"
    assert result.dropped == {("quote-1", "receipt:c-1")}


def test_saga_events_go_to_the_sagas_target_and_domain_events_to_the_events_target():
    result = plan([row("saga-Q1", 1, "e-1"), row("quote-Q1", 1, "c-1")])

    assert result.target == {("saga-Q1", "saga-Q1:0000000001"): "sagas",
                             ("quote-Q1", "quote-Q1:0000000001"): "events"}  # fmt: skip


def test_a_document_of_another_kind_stops_the_plan():
    with pytest.raises(PlanError, match="docType 'quote-view'"):
        plan([{"id": "v", "streamId": "quote-1", "docType": "quote-view"}])


def test_two_documents_of_a_stream_under_one_key_stop_the_plan():
    rows = [row("quote-1", 1, "c-1"), row("quote-1", 2, "c-1", key="c-1:1")]

    with pytest.raises(PlanError, match="share commandKey 'c-1:1'"):
        plan(rows)
