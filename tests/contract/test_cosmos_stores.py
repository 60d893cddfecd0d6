"""The Cosmos DB adapters held to the contract suites: the local Cosmos-protocol server by
default, the official emulator or a real account when COSMOS_ENDPOINT and COSMOS_KEY are set.

Tests that need a guarantee the local server lacks skip there, naming the gap; they run
unchanged against anything else.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import pytest

from adapters.cosmos import CosmosDeadLetterStore, CosmosViewStore
from adapters.cosmos_account import create_cosmos_client
from tests.contract.dead_letter_store_contract import DeadLetterStoreContract
from tests.contract.event_store_contract import (
    AppendAttempt,
    ConcurrentAppends,
    EventStoreContract,
    run_writers_on_stores,
)
from tests.contract.view_store_contract import ViewStoreContract
from tests.support.cosmos_server import (
    BATCH_READ_GAP,
    MISSING_ITEM_GAP,
    ROLLBACK_GAP,
    CosmosAccount,
)

pytestmark = pytest.mark.contract
pytest_plugins = ["tests.support.cosmos_fixtures"]


class TestCosmosEventStore(EventStoreContract):
    gaps: ClassVar[dict[str, str]] = {
        "feed": "Cosmos DB publishes events through the change feed (Functions trigger), "
        "not read_all",
    }

    @pytest.fixture
    def store(self, cosmos: CosmosAccount, cosmos_empty_containers) -> Any:
        return cosmos.event_store(cosmos_empty_containers["events"])

    @pytest.fixture
    def concurrent_appends(
        self, cosmos: CosmosAccount, cosmos_database, cosmos_empty_containers
    ) -> ConcurrentAppends:
        """Every writer a worker of its own: its own client, connections and caches."""
        events = cosmos_empty_containers["events"].id

        def writer_store() -> Any:
            client = create_cosmos_client({"CosmosDb": cosmos.connection_string}.get)
            database = client.get_database_client(cosmos_database.id)
            return cosmos.event_store(database.get_container_client(events))

        def run(writers: Sequence[Sequence[AppendAttempt]]) -> list[list[str]]:
            stores = [writer_store() for _ in writers]
            return run_writers_on_stores(stores, writers)

        return run

    @pytest.mark.parametrize("expected_version", [0, 1, 3])
    def test_an_append_at_a_wrong_expected_version_conflicts_and_appends_nothing(
        self, store: Any, expected_version: int, cosmos: CosmosAccount
    ) -> None:
        if expected_version > 2:  # ahead of the stream: only the batch's read can tell
            cosmos.skip_on_gap(BATCH_READ_GAP)
        super().test_an_append_at_a_wrong_expected_version_conflicts_and_appends_nothing(
            store, expected_version
        )

    def test_a_conflicting_multi_event_batch_leaves_no_partial_events(
        self, store: Any, cosmos: CosmosAccount
    ) -> None:
        cosmos.skip_on_gap(ROLLBACK_GAP + " (the conflicting command's receipt survives)")
        super().test_a_conflicting_multi_event_batch_leaves_no_partial_events(store)


class TestCosmosViewStore(ViewStoreContract):
    @pytest.fixture
    def store(self, cosmos_empty_containers) -> Any:
        return CosmosViewStore(cosmos_empty_containers["views"])

    def test_an_unknown_view_reads_as_none(self, store: Any, cosmos: CosmosAccount) -> None:
        cosmos.skip_on_gap(MISSING_ITEM_GAP)
        super().test_an_unknown_view_reads_as_none(store)

    def test_replacing_a_view_that_does_not_exist_conflicts(
        self, store: Any, cosmos: CosmosAccount
    ) -> None:
        cosmos.skip_on_gap(MISSING_ITEM_GAP)
        super().test_replacing_a_view_that_does_not_exist_conflicts(store)


class TestCosmosDeadLetterStore(DeadLetterStoreContract):
    @pytest.fixture
    def store(self, cosmos_empty_containers) -> Any:
        return CosmosDeadLetterStore(cosmos_empty_containers["deadletters"])

    def test_an_unknown_letter_reads_as_none(self, store: Any, cosmos: CosmosAccount) -> None:
        cosmos.skip_on_gap(MISSING_ITEM_GAP)
        super().test_an_unknown_letter_reads_as_none(store)
