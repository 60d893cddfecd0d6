"""Pytest plugin: a Cosmos DB account per session, fresh containers per test module.

Register with `pytest_plugins = ["tests.support.cosmos_fixtures"]`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from azure.cosmos import ContainerProxy, CosmosClient, DatabaseProxy

from adapters.cosmos_account import create_cosmos_client, ensure_containers
from tests.support.cosmos_server import CosmosAccount, cosmos_account


@pytest.fixture(scope="session")
def cosmos() -> Iterator[CosmosAccount]:
    """The account under test: COSMOS_ENDPOINT/COSMOS_KEY, else the local npm server."""
    with cosmos_account() as account:
        yield account


@pytest.fixture(scope="session")
def cosmos_client(cosmos: CosmosAccount) -> CosmosClient:
    """Built by the app's own factory; every request passes the account's counting transport."""
    settings = {"CosmosDb": cosmos.connection_string}
    return create_cosmos_client(settings.get, transport=cosmos.transport)


@pytest.fixture(scope="session")
def cosmos_database(cosmos_client: CosmosClient) -> Iterator[DatabaseProxy]:
    """A database of this session's own, deleted at the end (also on a real account)."""
    name = f"test-{uuid.uuid4().hex[:8]}"
    database = cosmos_client.create_database_if_not_exists(name)
    yield database
    cosmos_client.delete_database(name)


@pytest.fixture(scope="module")
def cosmos_containers(
    cosmos_client: CosmosClient, cosmos_database: DatabaseProxy
) -> Iterator[dict[str, ContainerProxy]]:
    """Fresh events/leases/views/deadletters containers for one test module, as in Azure."""
    suffix = uuid.uuid4().hex[:8]
    names = {n: f"{n}-{suffix}" for n in ("events", "sagas", "leases", "views", "deadletters")}
    containers = ensure_containers(cosmos_client, cosmos_database.id, names)
    yield containers
    for name in names.values():
        cosmos_database.delete_container(name)


@pytest.fixture
def cosmos_empty_containers(
    cosmos_containers: dict[str, ContainerProxy],
) -> dict[str, ContainerProxy]:
    """The module's containers with every document deleted: an empty store per test, without
    paying for a new container per test on a real account."""
    for container in cosmos_containers.values():
        key = container.read()["partitionKey"]["paths"][0].lstrip("/")
        everything = container.query_items("SELECT * FROM c", enable_cross_partition_query=True)
        for doc in list(everything):
            container.delete_item(doc["id"], partition_key=doc[key])
    return cosmos_containers
