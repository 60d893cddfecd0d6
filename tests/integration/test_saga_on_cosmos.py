"""The three sagas through the real Functions entry points over the Cosmos DB adapters (event
store, views, dead letters) and the real azure-cosmos SDK: what the deployed app does, minus
the change-feed trigger itself, which the test plays by reading the events container's change
feed through the SDK, from a continuation kept between rounds as the trigger's lease keeps it."""

from __future__ import annotations

import pytest

import bootstrap
from adapters.cosmos import CosmosDeadLetterStore, CosmosEventStore, CosmosViewStore
from adapters.memory import InMemoryCommandPublisher
from bootstrap import Adapters, Services, Settings
from devhost.cosmos_local import ChangeFeedPull
from tests.functions.driver import Driver
from tests.support.builders import ACCEPTED_PREMIUM, OVER_LIMIT_PREMIUM
from tests.support.world import FakeClock

pytest_plugins = ["tests.support.cosmos_fixtures"]
pytestmark = pytest.mark.integration


class ChangeFeed(Driver):
    """Delivers the events container's changes since the last round (latest-version change
    feed: system properties such as `_lsn` included), each batch twice, as a redelivering
    trigger would; remembers the kinds of document it delivered."""

    def __init__(self, services: Services, container) -> None:
        super().__init__(services, times=2)
        self.feed = ChangeFeedPull(container)
        self.doc_types: set[str] = set()

    def new_documents(self) -> list[dict]:
        documents = self.feed.new_documents()
        self.doc_types |= {d["docType"] for d in documents}
        return documents


@pytest.fixture
def cosmos_app(cosmos_empty_containers):
    containers = cosmos_empty_containers
    settings = Settings({"STORE_BACKEND": "cosmos", "PUBLISHER_BACKEND": "memory"})
    adapters = Adapters(
        store=CosmosEventStore(containers["events"]),
        saga_store=CosmosEventStore(containers["sagas"]),
        publisher=InMemoryCommandPublisher(),
        views=CosmosViewStore(containers["views"]),
        dead_letters=CosmosDeadLetterStore(containers["deadletters"]),
    )
    services = Services(settings, adapters, clock=FakeClock())
    previous = bootstrap.install(services)
    yield services, ChangeFeed(services, containers["events"])
    bootstrap.install(previous)


def test_all_three_outcomes_over_cosmos_with_every_batch_delivered_twice(cosmos_app):
    services, feed = cosmos_app
    for i in range(5):
        services.quotes.create("C-full", ACCEPTED_PREMIUM, f"QF{i}")
        services.quotes.approve(f"QF{i}")
    feed.run_until_quiet()
    for quote_id, customer, premium in [
        ("Q-happy", "C-1", ACCEPTED_PREMIUM),
        ("Q-big", "C-1", OVER_LIMIT_PREMIUM),
        ("Q-sixth", "C-full", ACCEPTED_PREMIUM),
    ]:
        services.quotes.create(customer, premium, quote_id)
        services.quotes.approve(quote_id)
    feed.run_until_quiet()

    status = {q: services.quotes.view(q).saga.status for q in ["Q-happy", "Q-big", "Q-sixth"]}
    assert status == {"Q-happy": "Completed", "Q-big": "Compensated", "Q-sixth": "Compensated"}
    assert services.quotes.customer("C-full").policyCount == 5
    assert services.quotes.customer("C-1").policyCount == 1
    sixth = [e.eventType for e in services.quotes.view("Q-sixth").timeline]
    assert {"CustomerPolicyCountUpdateFailed", "PolicyCancelled", "QuoteRejected"} <= set(sixth)
    assert services.desk.list() == []
    # Saga streams live in their own container, receipts in no document: the orchestrator's
    # feed carries domain events only.
    assert feed.doc_types == {"event"}
