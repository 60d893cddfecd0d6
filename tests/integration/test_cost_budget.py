"""What a saga costs in Cosmos DB, as `python -m devhost cost` counts it (devhost/cost.py):
a few sagas of each outcome through the Functions entry points over the Cosmos adapters, every
HTTP request counted at the SDK transport, on a warm worker (feed documents one per
invocation). Issue 14's targets: at most 12 data requests, 8 change-feed documents and 75 RU
(the estimate of devhost/cost_report.py) per completed saga."""

from __future__ import annotations

import pytest

from devhost.cost import measure
from devhost.cost_report import by_container_and_kind, request_ru, row
from tests.support.cosmos_server import CosmosAccount

pytestmark = pytest.mark.integration
pytest_plugins = ["tests.support.cosmos_fixtures"]

SAGAS = 2
TARGET_DATA_REQUESTS = 12
TARGET_FEED_DOCUMENTS = 8
TARGET_RU = 75.0
# With 36-character ids (`devhost cost --ids uuid`) the first view replace is over 1 KB: 75.5
# measured, the ceiling no change may raise (README, Performance and cost).
UUID_IDS_RU = 75.6  # 75.53
# Measured: what no change may raise (the completed saga's is the target).
CEILING = {"completed": 12, "over-limit": 11, "policy-limit": 16}
# Measured RU per completed saga by container and kind (docs/cosmos.md, "Cost per saga"): the
# failure message names the kinds above these, and the sizes of their writes.
MEASURED_RU = {
    "events batch": 21.0, "events query": 2.5, "sagas batch": 17.0, "views create": 5.0,
    "views replace": 25.0,
}  # fmt: skip


@pytest.fixture(scope="module")
def warm(cosmos: CosmosAccount):
    return measure(cosmos.connection_string, SAGAS, cold=False)


def test_a_completed_saga_on_a_warm_worker_sends_at_most_12_data_requests(warm):
    assert row(warm["completed"])["data requests"] <= TARGET_DATA_REQUESTS


def test_a_completed_saga_puts_at_most_8_documents_on_the_change_feed(warm):
    assert row(warm["completed"])["change-feed documents"] <= TARGET_FEED_DOCUMENTS


@pytest.mark.parametrize("outcome", list(CEILING))
def test_no_outcome_sends_more_data_requests_per_saga_than_measured(warm, outcome):
    assert row(warm[outcome])["data requests"] <= CEILING[outcome]


@pytest.mark.parametrize("outcome", list(CEILING))
def test_a_warm_orchestrator_never_reads_a_view_before_writing_it(warm, outcome):
    tally = warm[outcome]
    kinds = by_container_and_kind(r for r in tally.requests if r.data)
    assert kinds["views read"] == 0  # not even the approval's reply (QuoteService.approve)
    batches = tally.invocations["orchestrate"]
    assert kinds["views create"] == SAGAS
    assert kinds["views create"] + kinds["views replace"] <= batches


def test_a_completed_saga_on_a_warm_worker_costs_at_most_75_ru(warm):
    tally = warm["completed"]
    ru = row(tally)["RU app requests"]
    assert ru <= TARGET_RU, f"{ru:.1f} RU per completed saga: {grown(tally)}"


def grown(tally) -> str:
    """The kinds of request above their measured RU, with the sizes each of them wrote."""
    data = [r for r in tally.requests if r.data]
    kinds = sorted({kind_of(r) for r in data})
    spent = {k: sum(request_ru(r) for r in data if kind_of(r) == k) / tally.sagas for k in kinds}
    over = [k for k in kinds if spent[k] > MEASURED_RU.get(k, 0.0) + 0.1]
    return (
        "; ".join(
            f"{k} {spent[k]:.1f} RU (measured {MEASURED_RU.get(k, 0.0):g}), writing "
            + ", ".join(
                f"{n} B" for n in sorted({n for r in data if kind_of(r) == k for n in sizes(r)})
            )
            for k in over
        )
        or "no kind above its measured RU"
    )


def kind_of(sent) -> str:
    return next(iter(by_container_and_kind([sent])))


def sizes(sent) -> list[int]:
    """What a request wrote: its body, or each write of a batch."""
    if sent.kind == "batch":
        return [size for kind, size in sent.operations if kind != "Read"]
    return [sent.request_bytes]


def test_with_ids_as_long_as_the_apis_a_completed_saga_costs_no_more_than_measured(cosmos):
    tally = measure(cosmos.connection_string, 1, cold=False, ids="uuid")["completed"]
    created = next(r for r in tally.requests if r.kind == "batch" and r.container)
    assert created.operations[0][1] > 600  # the ids are uuids: the documents grew with them
    ru = row(tally)["RU app requests"]
    assert ru <= UUID_IDS_RU, f"{ru:.1f} RU per completed saga with uuid ids: {grown(tally)}"
