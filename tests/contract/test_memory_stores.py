"""The in-memory adapters held to the contract suites (writers race on threads)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from adapters.memory import InMemoryDeadLetterStore, InMemoryEventStore, InMemoryViewStore
from tests.contract.dead_letter_store_contract import DeadLetterStoreContract
from tests.contract.event_store_contract import (
    AppendAttempt,
    ConcurrentAppends,
    EventStoreContract,
    run_writers_in_threads,
)
from tests.contract.view_store_contract import ViewStoreContract

pytestmark = pytest.mark.contract


class TestInMemoryEventStore(EventStoreContract):
    @pytest.fixture
    def store(self) -> InMemoryEventStore:
        return InMemoryEventStore()

    @pytest.fixture
    def concurrent_appends(self, store: InMemoryEventStore) -> ConcurrentAppends:
        def run(writers: Sequence[Sequence[AppendAttempt]]) -> list[list[str]]:
            return run_writers_in_threads(store, writers)

        return run


class TestInMemoryViewStore(ViewStoreContract):
    @pytest.fixture
    def store(self) -> InMemoryViewStore:
        return InMemoryViewStore()

    def stored_json(self, store: InMemoryViewStore, view_id: str) -> dict[str, Any]:
        """It holds the models: what they dump to is what a durable store would write."""
        return store._docs[view_id].view.model_dump(mode="json")


class TestInMemoryDeadLetterStore(DeadLetterStoreContract):
    @pytest.fixture
    def store(self) -> InMemoryDeadLetterStore:
        return InMemoryDeadLetterStore()
