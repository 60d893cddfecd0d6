"""What a saga costs in Cosmos DB, as `python -m devhost cost` counts it (devhost/cost.py):
a few sagas of each outcome through the Functions entry points over the Cosmos adapters, every
HTTP request counted at the SDK transport, on a warm worker (feed documents one per
invocation). Issue 14's targets: at most 12 data requests and 8 change-feed documents per
completed saga."""

from __future__ import annotations

import pytest

from devhost.cost import measure
from devhost.cost_report import by_container_and_kind, row
from tests.support.cosmos_server import CosmosAccount

pytestmark = pytest.mark.integration
pytest_plugins = ["tests.support.cosmos_fixtures"]

SAGAS = 2
TARGET_DATA_REQUESTS = 12
TARGET_FEED_DOCUMENTS = 8
# Measured with the view cuts: what no change may raise until the event store's cuts land
# (then TARGET_DATA_REQUESTS is the ceiling, and the two xfails below pass: remove them).
CEILING = {"completed": 16, "over-limit": 15, "policy-limit": 21}
EVENT_STORE_CUTS = (
    "the event store's cuts (issue 14, P4: no query before appending to a stream a warm worker "
    "knows is new; receipts folded into the events; saga streams out of the events container) "
    "are not on this branch"
)


@pytest.fixture(scope="module")
def warm(cosmos: CosmosAccount):
    return measure(cosmos.connection_string, SAGAS, cold=False)


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=f"{EVENT_STORE_CUTS}: 16 measured")
def test_a_completed_saga_on_a_warm_worker_sends_at_most_12_data_requests(warm):
    assert row(warm["completed"])["data requests"] <= TARGET_DATA_REQUESTS


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=f"{EVENT_STORE_CUTS}: 14 measured")
def test_a_completed_saga_puts_at_most_8_documents_on_the_change_feed(warm):
    assert row(warm["completed"])["change-feed documents"] <= TARGET_FEED_DOCUMENTS


@pytest.mark.parametrize("outcome", list(CEILING))
def test_no_outcome_sends_more_data_requests_per_saga_than_measured(warm, outcome):
    assert row(warm[outcome])["data requests"] <= CEILING[outcome]


@pytest.mark.parametrize("outcome", list(CEILING))
def test_a_warm_orchestrator_never_reads_a_view_before_writing_it(warm, outcome):
    tally = warm[outcome]
    kinds = by_container_and_kind(r for r in tally.requests if r.data)
    assert kinds["views read"] == SAGAS  # the approval's reply only (QuoteService.approve)
    batches = tally.invocations["orchestrate"]
    assert kinds["views create"] == SAGAS
    assert kinds["views create"] + kinds["views replace"] <= batches
