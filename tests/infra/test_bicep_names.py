"""The names the app uses (bootstrap.DEFAULTS, the %SETTING% expressions and connection
prefixes of the function bindings) are exactly the app settings and resources Bicep deploys."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bootstrap import COSMOS_CONNECTION, DEFAULTS, EVENTHUBS_CONNECTION
from domain.registry import AGGREGATES
from tests.infra import (
    LOCAL_ONLY_SETTINGS,
    MAIN,
    ROOT,
    Unresolved,
    binding_setting_names,
    deployed_app_settings,
    indexed_bindings,
    module,
    setting_value,
    template,
)

pytestmark = pytest.mark.infra

# Identity-based connection settings per trigger type: the host reads `<connection>__<suffix>`.
# https://learn.microsoft.com/azure/azure-functions/functions-reference#configure-an-identity-based-connection
ENDPOINT_SUFFIX = {
    "cosmosDBTrigger": "accountEndpoint",
    "eventHubTrigger": "fullyQualifiedNamespace",
}
# Settings for the host and the SDKs rather than for our code.
HOST_SETTINGS = {
    "AzureWebJobsStorage__accountName",
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
    "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY",
    "PYTHON_APPLICATIONINSIGHTS_LOGGER_NAME",
    "AZURE_CLIENT_ID",
}


@pytest.fixture(scope="module")
def bindings() -> dict[str, list[dict[str, Any]]]:
    """Each function's bindings as the host indexes them (function.json shape)."""
    if not (ROOT / "function_app.py").exists():
        pytest.skip("function_app.py is not there yet")
    return indexed_bindings()


@pytest.fixture(scope="module")
def settings() -> dict[str, Any]:
    return deployed_app_settings()


def triggers_of(bindings: dict[str, list[dict[str, Any]]], kind: str) -> list[dict[str, Any]]:
    return [b for found in bindings.values() for b in found if b["type"] == kind]


def test_every_setting_a_binding_refers_to_is_an_app_setting(bindings, settings):
    referred = set().union(*(binding_setting_names(found) for found in bindings.values()))
    assert referred, "the bindings refer to no %SETTING%: the app did not load as expected"
    assert referred - set(settings) == set()


def test_every_binding_connection_is_identity_based_with_the_app_identity(bindings, settings):
    for kind, suffix in ENDPOINT_SUFFIX.items():
        for trigger in triggers_of(bindings, kind):
            prefix = trigger["connection"]
            assert f"{prefix}__{suffix}" in settings, f"{kind} connection {prefix}"
            assert settings[f"{prefix}__credential"] == "managedidentity"
            assert "identity" in str(settings[f"{prefix}__clientId"])
            assert prefix not in settings, f"{prefix} would be a connection string"


def test_the_sdk_connection_prefixes_are_identity_based_too(settings):
    assert isinstance(settings[f"{COSMOS_CONNECTION}__accountEndpoint"], Unresolved)
    assert isinstance(settings[f"{EVENTHUBS_CONNECTION}__fullyQualifiedNamespace"], Unresolved)
    for prefix in (COSMOS_CONNECTION, EVENTHUBS_CONNECTION):
        assert settings[f"{prefix}__credential"] == "managedidentity"
        assert settings[f"{prefix}__clientId"] == settings["AZURE_CLIENT_ID"]


def test_every_setting_bootstrap_reads_is_deployed_with_its_default_value(settings):
    for name, default in DEFAULTS.items():
        if name in LOCAL_ONLY_SETTINGS:
            assert name not in settings, f"{name} is local-only"
            continue
        assert settings.get(name) == default, name


def test_no_app_setting_is_left_over_from_a_rename(bindings, settings):
    used = set(DEFAULTS) | HOST_SETTINGS
    used |= set().union(*(binding_setting_names(found) for found in bindings.values()))
    for prefix in (COSMOS_CONNECTION, EVENTHUBS_CONNECTION):
        used |= {f"{prefix}__{suffix}" for suffix in (*ENDPOINT_SUFFIX.values(), "credential")}
        used.add(f"{prefix}__clientId")
    assert set(settings) - used == set()


def test_the_change_feed_trigger_watches_the_deployed_database_and_containers(bindings, settings):
    cosmos, main = module("cosmos"), template(MAIN)
    params = main.resolve(main.module_params("cosmos"))
    containers = {
        *params["streamContainerNames"],
        params["viewsContainerName"],
        *params["idPartitionedContainerNames"],
    }
    triggers = triggers_of(bindings, "cosmosDBTrigger")
    assert triggers
    for trigger in triggers:
        assert setting_value(trigger["databaseName"], settings) == params["databaseName"]
        assert setting_value(trigger["containerName"], settings) in containers
        assert setting_value(trigger["leaseContainerName"], settings) in containers
        # The identity cannot create containers through the data plane: Bicep must have.
        assert trigger.get("createLeaseContainerIfNotExists") in (None, False)
    assert cosmos.loop_array("idContainers") == "idPartitionedContainerNames"
    assert cosmos.loop_array("streamContainers") == "streamContainerNames"


def test_the_deployed_containers_are_the_ones_the_cosmos_adapter_expects(settings):
    spec = json.loads((ROOT / "infra" / "cosmos" / "containers.json").read_text())
    cosmos, main = module("cosmos"), template(MAIN)
    params = main.resolve(main.module_params("cosmos"))
    streams = cosmos.resource("streamContainers")["properties"]["resource"]
    views = cosmos.resource("viewsContainer")["properties"]["resource"]
    by_id = cosmos.resource("idContainers")["properties"]["resource"]
    deployed = dict.fromkeys(params["streamContainerNames"], streams["partitionKey"]["paths"])
    deployed[params["viewsContainerName"]] = views["partitionKey"]["paths"]
    deployed |= dict.fromkeys(params["idPartitionedContainerNames"], by_id["partitionKey"]["paths"])

    expected = {settings[c["setting"]]: [c["partitionKeyPath"]] for c in spec.values()}
    assert deployed == expected
    assert params["databaseName"] == settings["COSMOS_DATABASE"]


@pytest.mark.parametrize(
    ("resource", "logical"),
    [("streamContainers", "events"), ("streamContainers", "sagas"), ("viewsContainer", "views")],
)
def test_a_container_with_its_own_indexing_policy_takes_it_from_the_shared_file(resource, logical):
    spec = json.loads((ROOT / "infra" / "cosmos" / "containers.json").read_text())
    deployed = module("cosmos").resource(resource)["properties"]["resource"]
    loaded = module("cosmos").resolve(deployed["indexingPolicy"])  # loadJsonContent, followed
    shared = ROOT / "infra" / "cosmos" / spec[logical]["indexingPolicyFile"]
    assert loaded == json.loads(shared.read_text())


def test_every_container_with_an_indexing_policy_file_is_deployed_with_one():
    spec = json.loads((ROOT / "infra" / "cosmos" / "containers.json").read_text())
    with_policy = {logical for logical, props in spec.items() if "indexingPolicyFile" in props}
    assert with_policy == {"events", "sagas", "views"}
    by_id = module("cosmos").resource("idContainers")["properties"]["resource"]
    assert "indexingPolicy" not in by_id  # leases and dead letters: the default policy


def test_every_consumed_hub_and_consumer_group_is_deployed_as_a_pair(bindings, settings):
    main = template(MAIN)
    params = main.resolve(main.module_params("eventHubs"))
    consumed = {
        (setting_value(t["eventHubName"], settings), setting_value(t["consumerGroup"], settings))
        for t in triggers_of(bindings, "eventHubTrigger")
    }
    assert len(consumed) == len(AGGREGATES)  # one hub and group per registered aggregate
    assert {(c["hub"], c["consumerGroup"]) for c in params["consumers"]} == consumed
    assert {hub for hub, _ in consumed} <= set(params["hubNames"])
    assert module("eventhubs").loop_array("consumerGroups") == "consumers"


def test_outside_readers_get_their_own_consumer_group_on_a_hub_the_app_does_not_consume():
    main = template(MAIN)
    params = main.resolve(main.module_params("eventHubs"))
    consumed = {c["hub"] for c in params["consumers"]}
    subscribed = {s["hub"] for s in params["subscriberGroups"]}
    assert subscribed
    assert subscribed <= set(params["hubNames"]) - consumed
    assert module("eventhubs").loop_array("subscriberConsumerGroups") == "subscriberGroups"


def test_every_hub_the_app_publishes_to_is_deployed(settings):
    main = template(MAIN)
    params = main.resolve(main.module_params("eventHubs"))
    published = {value for name, value in DEFAULTS.items() if name.endswith("_HUB")}
    assert set(params["hubNames"]) == published
    assert {settings[name] for name in DEFAULTS if name.endswith("_HUB")} == published
    assert module("eventhubs").loop_array("hubs") == "hubNames"


def test_the_timer_schedule_is_an_app_setting(bindings, settings):
    timers = triggers_of(bindings, "timerTrigger")
    assert timers
    for timer in timers:
        assert setting_value(timer["schedule"], settings) == DEFAULTS["SAGA_TIMEOUT_SCHEDULE"]


def test_the_stream_containers_are_deployed_with_the_unique_key_the_event_store_relies_on():
    spec = json.loads((ROOT / "infra" / "cosmos" / "containers.json").read_text())
    deployed = module("cosmos").resource("streamContainers")["properties"]["resource"]
    policy = module("cosmos").resolve(deployed["uniqueKeyPolicy"])
    for logical in ("events", "sagas"):
        shared = ROOT / "infra" / "cosmos" / spec[logical]["uniqueKeyPolicyFile"]
        assert policy == json.loads(shared.read_text())
    assert policy == {"uniqueKeys": [{"paths": ["/commandKey"]}]}  # adapters/cosmos.py writes it
