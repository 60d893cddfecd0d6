"""Connecting to Cosmos DB for NoSQL from Functions-style settings, and creating the database
and containers where Bicep does not (tests, the emulator)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from azure.cosmos import ContainerProxy, CosmosClient, PartitionKey

from adapters.cosmos import (
    CosmosDeadLetterStore,
    CosmosEventStore,
    CosmosViewStore,
    cosmos_errors,
)

INFRA = Path(__file__).resolve().parent.parent / "infra" / "cosmos"


def create_cosmos_client(
    get: Callable[[str], str | None], prefix: str = "CosmosDb", **options: Any
) -> CosmosClient:
    """The one client of a worker, from Functions-style connection settings.

    `<prefix>__accountEndpoint` -> managed identity / DefaultAzureCredential (user-assigned when
    `<prefix>__clientId` is set); otherwise the key connection string in `<prefix>` (emulator,
    local server). `options` reach the CosmosClient (tests pass a counting transport).
    The SDK reads the database account while constructing: an unreachable account raises
    TransientFailure here already.
    """
    endpoint = get(f"{prefix}__accountEndpoint")
    if endpoint:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential(managed_identity_client_id=get(f"{prefix}__clientId"))
        with cosmos_errors("connecting to Cosmos DB"):
            return CosmosClient(endpoint, credential, **_endpoint_options(endpoint), **options)
    connection = get(prefix)
    if not connection:
        raise ValueError(
            f"No Cosmos DB connection: set {prefix}__accountEndpoint (managed identity) or "
            f"{prefix} to a connection string 'AccountEndpoint=...;AccountKey=...;'"
        )
    parts = dict(p.split("=", 1) for p in connection.strip().rstrip(";").split(";") if "=" in p)
    endpoint, key = parts.get("AccountEndpoint"), parts.get("AccountKey")
    if not endpoint or not key:
        raise ValueError(f"{prefix} must hold 'AccountEndpoint=...;AccountKey=...;'")
    if parts.get("DisableServerCertificateValidation", "").lower() == "true":
        options.setdefault("connection_verify", False)  # the emulator's self-signed certificate
    with cosmos_errors("connecting to Cosmos DB"):
        return CosmosClient(endpoint, key, **_endpoint_options(endpoint), **options)


def _endpoint_options(endpoint: str) -> dict[str, Any]:
    # Discovery follows the account's advertised (https) regional endpoints: a plain-http
    # emulator or test server is then unreachable. https://aka.ms/cosmosdb-emulator
    return {"enable_endpoint_discovery": False} if endpoint.startswith("http://") else {}


def stores_from_settings(
    get: Callable[[str], str | None], prefix: str = "CosmosDb", **client_options: Any
) -> dict[str, Any]:
    """The worker's Cosmos stores (one client), keyed as bootstrap's Adapters expects.

    `get` answers with defaults applied (bootstrap.Settings.get): the names' defaults live
    there only. COSMOS_ENSURE_CONTAINERS=true creates missing containers first (local runs
    only: in Azure the app's identity may not create them, Bicep does). `client_options`
    reach the CosmosClient (`devhost cost` passes a counting transport).
    """
    client = create_cosmos_client(get, prefix, **client_options)
    database = _required(get, "COSMOS_DATABASE")
    names = {
        logical: _required(get, f"{logical.upper()}_CONTAINER")
        for logical in ("events", "sagas", "leases", "views", "deadletters")
    }
    if (get("COSMOS_ENSURE_CONTAINERS") or "").lower() == "true":
        with cosmos_errors("creating containers"):
            ensure_containers(client, database, names)
    db = client.get_database_client(database)
    events, sagas = (db.get_container_client(names[n]) for n in ("events", "sagas"))
    with cosmos_errors("reading the event containers' unique keys"):
        for container in (events, sagas):
            require_command_key(container)
    return {
        "store": CosmosEventStore(events),
        "saga_store": CosmosEventStore(sagas),
        "views": CosmosViewStore(db.get_container_client(names["views"])),
        "dead_letters": CosmosDeadLetterStore(db.get_container_client(names["deadletters"])),
    }


_KEYED: set[str] = set()  # the containers this process found keyed: one read per container


def require_command_key(container: ContainerProxy) -> None:
    """Refuse an event container without the `/commandKey` unique key: there a redelivered
    command would append its events again (the key is what catches it), and a unique key
    policy cannot be added to a container that exists. One metadata read per process."""
    link = f"{container.client_connection.url_connection}/{container.container_link}"
    if link in _KEYED:
        return
    policy = container.read().get("uniqueKeyPolicy") or {}
    if not any("/commandKey" in key.get("paths", []) for key in policy.get("uniqueKeys", [])):
        raise ValueError(
            f"Cosmos DB container {container.id!r} has no unique key on /commandKey, so "
            "redelivered commands would be appended twice. It was created before the key "
            "(or by hand): create a new container from infra/ and point the setting at it; "
            "docs/cosmos.md, 'Receipts folded into the events: existing data'"
        )
    _KEYED.add(link)


def _required(get: Callable[[str], str | None], name: str) -> str:
    value = get(name)
    if not value:
        raise ValueError(f"setting {name} is not set")
    return value


def ensure_containers(
    client: CosmosClient, database: str, names: Mapping[str, str] | None = None
) -> dict[str, ContainerProxy]:
    """Create the database and containers if missing (tests, local runs; Bicep in Azure).

    `names` maps logical names (events, sagas, leases, views, deadletters) to container ids.
    """
    spec = json.loads((INFRA / "containers.json").read_text())
    db = client.create_database_if_not_exists(database)
    containers = {}
    for logical, props in spec.items():
        options: dict[str, Any] = {}
        if "indexingPolicyFile" in props:
            policy = (INFRA / props["indexingPolicyFile"]).read_text()
            options["indexing_policy"] = json.loads(policy)
        if "uniqueKeyPolicyFile" in props:  # fixed at creation: an existing container keeps its own
            policy = (INFRA / props["uniqueKeyPolicyFile"]).read_text()
            options["unique_key_policy"] = json.loads(policy)
        containers[logical] = db.create_container_if_not_exists(
            (names or {}).get(logical, logical), PartitionKey(props["partitionKeyPath"]), **options
        )
    return containers
