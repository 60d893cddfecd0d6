"""The Cosmos DB adapters held to the contract suites: the local Cosmos-protocol server by
default (patched where it lacked a guarantee the suite needs: docs/cosmos.md), the official
emulator or a real account when COSMOS_ENDPOINT and COSMOS_KEY are set.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import pytest

from adapters.cosmos import CosmosDeadLetterStore, CosmosEventStore, CosmosViewStore
from adapters.cosmos_account import create_cosmos_client
from adapters.cosmos_queries import DUE_AT
from tests.contract.dead_letter_store_contract import DeadLetterStoreContract
from tests.contract.event_store_contract import (
    AppendAttempt,
    ConcurrentAppends,
    EventStoreContract,
    run_writers_on_stores,
)
from tests.contract.view_store_contract import ViewStoreContract
from tests.support.cosmos_server import CosmosAccount

pytestmark = pytest.mark.contract
pytest_plugins = ["tests.support.cosmos_fixtures"]


class TestCosmosEventStore(EventStoreContract):
    gaps: ClassVar[dict[str, str]] = {
        "feed": "Cosmos DB publishes events through the change feed (Functions trigger), "
        "not read_all",
    }

    @pytest.fixture
    def store(self, cosmos_empty_containers) -> Any:
        return CosmosEventStore(cosmos_empty_containers["events"])

    @pytest.fixture
    def concurrent_appends(
        self, cosmos: CosmosAccount, cosmos_database, cosmos_empty_containers
    ) -> ConcurrentAppends:
        """Every writer a worker of its own: its own client, connections and caches."""
        events = cosmos_empty_containers["events"].id

        def writer_store() -> Any:
            client = create_cosmos_client({"CosmosDb": cosmos.connection_string}.get)
            database = client.get_database_client(cosmos_database.id)
            return CosmosEventStore(database.get_container_client(events))

        def run(writers: Sequence[Sequence[AppendAttempt]]) -> list[list[str]]:
            stores = [writer_store() for _ in writers]
            return run_writers_on_stores(stores, writers)

        return run


class TestCosmosViewStore(ViewStoreContract):
    @pytest.fixture
    def store(self, cosmos_empty_containers) -> Any:
        return CosmosViewStore(cosmos_empty_containers["views"])

    def stored_json(self, store: Any, view_id: str) -> dict[str, Any]:
        item = store._container.read_item(view_id, partition_key=view_id)
        return {k: v for k, v in item.items() if not k.startswith("_") and k != DUE_AT}


class TestCosmosDeadLetterStore(DeadLetterStoreContract):
    @pytest.fixture
    def store(self, cosmos_empty_containers) -> Any:
        return CosmosDeadLetterStore(cosmos_empty_containers["deadletters"])
