"""docker-compose.yml, the Event Hubs emulator's Config.json and local.settings.sample.json name
the same hubs, consumer groups, settings and ports as the app and the Bicep deployment."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from bootstrap import COSMOS_CONNECTION, DEFAULTS, EVENTHUBS_CONNECTION
from tests.infra import (
    COMPOSE,
    EMULATOR_CONFIG,
    MAIN,
    ROOT,
    SAMPLE_SETTINGS,
    deployed_app_settings,
    template,
)

pytestmark = pytest.mark.infra

COSMOS_CONTAINERS = json.loads((ROOT / "infra" / "cosmos" / "containers.json").read_text())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())["services"]


@pytest.fixture(scope="module")
def sample() -> dict[str, str]:
    return json.loads(SAMPLE_SETTINGS.read_text())["Values"]


@pytest.fixture(scope="module")
def emulated_hubs() -> dict[str, set[str]]:
    """Hub name -> consumer groups, as the Event Hubs emulator will create them."""
    namespaces = json.loads(EMULATOR_CONFIG.read_text())["UserConfig"]["NamespaceConfig"]
    return {
        entity["Name"]: {group["Name"] for group in entity["ConsumerGroups"]}
        for namespace in namespaces
        for entity in namespace["Entities"]
    }


def image(service: dict[str, Any]) -> str:
    return service["image"].split(":")[0]


def host_ports(service: dict[str, Any]) -> set[int]:
    ports: set[int] = set()
    for mapping in service.get("ports", []):
        first, _, last = str(mapping).split(":")[0].partition("-")
        ports |= set(range(int(first), int(last or first) + 1))
    return ports


def test_compose_runs_azurite_the_cosmos_emulator_and_the_event_hubs_emulator(compose):
    by_default = {image(s) for s in compose.values() if not s.get("profiles")}
    assert by_default == {
        "mcr.microsoft.com/azure-storage/azurite",
        "mcr.microsoft.com/cosmosdb/linux/azure-cosmos-emulator",
        "mcr.microsoft.com/azure-messaging/eventhubs-emulator",
    }
    assert compose["cosmos"]["image"].endswith(":vnext-preview")


def test_the_classic_cosmos_emulator_is_opt_in_and_advertises_the_host_loopback(compose):
    # Settings from https://learn.microsoft.com/azure/cosmos-db/how-to-develop-emulator
    classic = compose["cosmos-classic"]
    assert classic["image"] == "mcr.microsoft.com/cosmosdb/linux/azure-cosmos-emulator:latest"
    assert classic["profiles"] == ["classic-cosmos"]  # it serves 8081 in place of `cosmos`
    assert classic["platform"] == "linux/amd64"
    env = classic["environment"]
    assert int(env["AZURE_COSMOS_EMULATOR_PARTITION_COUNT"]) >= len(COSMOS_CONTAINERS)
    assert env["AZURE_COSMOS_EMULATOR_ENABLE_DATA_PERSISTENCE"] == "true"
    # Advertised endpoints must be the address `func start` reaches the published ports on.
    assert env["AZURE_COSMOS_EMULATOR_IP_ADDRESS_OVERRIDE"] == "127.0.0.1"
    assert "command" not in classic  # `--protocol` is a vNext argument
    assert classic["ports"] == ["8081:8081", "10250-10255:10250-10255"]


def test_the_sample_leaves_the_cosmos_connection_mode_to_the_extension_default(sample):
    # Gateway unless host.json sets one: CosmosDBUtility.BuildClientOptions in
    # https://github.com/Azure/azure-webjobs-sdk-extensions (src/WebJobs.Extensions.CosmosDB)
    assert not [name for name in sample if "connectionMode" in name]
    host = json.loads((ROOT / "host.json").read_text())
    assert "connectionMode" not in host.get("extensions", {}).get("cosmosDB", {})


def test_the_event_hubs_emulator_uses_azurite_and_mounts_the_repository_config(compose):
    eventhubs = compose["eventhubs"]
    assert eventhubs["environment"]["BLOB_SERVER"] == "azurite"
    assert eventhubs["environment"]["METADATA_SERVER"] == "azurite"
    assert "azurite" in eventhubs["depends_on"]
    assert "ACCEPT_EULA" in eventhubs["environment"]
    source, target = eventhubs["volumes"][0].split(":")[:2]
    assert (ROOT / source).resolve() == EMULATOR_CONFIG
    assert target == "/Eventhubs_Emulator/ConfigFiles/Config.json"


def test_the_emulator_creates_every_hub_the_app_publishes_to(emulated_hubs):
    published = {value for name, value in DEFAULTS.items() if name.endswith("_HUB")}
    assert set(emulated_hubs) == published


def test_the_emulator_creates_the_same_consumer_groups_as_bicep(emulated_hubs):
    main = template(MAIN)
    params = main.resolve(main.module_params("eventHubs"))
    groups = [*params["consumers"], *params["subscriberGroups"]]
    deployed = {(c["hub"], c["consumerGroup"]) for c in groups}
    emulated = {(hub, group) for hub, groups in emulated_hubs.items() for group in groups}
    assert emulated == deployed


def test_the_sample_sets_every_setting_the_app_reads_for_the_emulators(sample):
    assert sample["FUNCTIONS_WORKER_RUNTIME"] == "python"
    assert sample["AzureWebJobsStorage"] == "UseDevelopmentStorage=true"
    assert sample["STORE_BACKEND"] == "cosmos"
    assert sample["PUBLISHER_BACKEND"] == "eventhubs"
    # The emulator starts empty, so locally the app creates its containers (Bicep does in Azure).
    emulator = {**DEFAULTS, "COSMOS_ENSURE_CONTAINERS": "true"}
    assert {name: sample.get(name) for name in DEFAULTS} == emulator


def test_the_sample_names_every_app_setting_bicep_deploys_except_identity_ones(sample):
    identity_only = {name for name in deployed_app_settings() if "__" in name}
    identity_only |= {
        name
        for name in deployed_app_settings()
        if name.startswith(("APPLICATIONINSIGHTS_", "AZURE_"))
    }
    assert set(deployed_app_settings()) - identity_only <= set(sample)


def test_the_sample_connections_point_at_the_compose_ports(sample, compose):
    cosmos = dict(p.split("=", 1) for p in sample[COSMOS_CONNECTION].rstrip(";").split(";"))
    assert cosmos["AccountEndpoint"] == "https://localhost:8081/"
    assert 8081 in host_ports(compose["cosmos"])
    assert 8081 in host_ports(compose["cosmos-classic"])
    assert compose["cosmos"]["command"] == "--protocol https"

    eventhubs = dict(p.split("=", 1) for p in sample[EVENTHUBS_CONNECTION].rstrip(";").split(";"))
    assert eventhubs["Endpoint"] == "sb://localhost"  # AMQP on the default port 5672
    assert eventhubs["UseDevelopmentEmulator"] == "true"
    assert 5672 in host_ports(compose["eventhubs"])

    # UseDevelopmentStorage=true means Azurite's default blob, queue and table ports.
    assert {10000, 10001, 10002} <= host_ports(compose["azurite"])


def test_the_sample_uses_connection_strings_not_identity_settings(sample):
    # `AzureFunctionsJobHost__...` overrides host.json; any other `__` is an identity setting.
    host_overrides = [name for name in sample if name.startswith("AzureFunctionsJobHost__")]
    assert not [name for name in sample if "__" in name and name not in host_overrides]
