"""Least privilege and no secrets: local auth off everywhere, identity-based connections only,
role assignments that match what each function does, and checkov where it is installed."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bootstrap import DEFAULTS
from domain.registry import AGGREGATES
from tests.infra import (
    BICEP_DIR,
    COMPOSE,
    EMULATOR_CONFIG,
    MAIN,
    PARAMETER_FILES,
    ROOT,
    SAMPLE_SETTINGS,
    Template,
    bicep_files,
    deployed_app_settings,
    module,
    role_definition_guid,
    template,
)

pytestmark = pytest.mark.infra

STORAGE_BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
MONITORING_METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"
EVENT_HUBS_DATA_SENDER = "2b629674-e913-4c01-ae53-ef4638d8f975"
EVENT_HUBS_DATA_RECEIVER = "a638d3c7-ab3a-418d-83e6-5f17a39d4fde"
COSMOS_BUILT_IN_DATA_CONTRIBUTOR = "00000000-0000-0000-0000-000000000002"
ROLE_ASSIGNMENT = "Microsoft.Authorization/roleAssignments"

# What a key, SAS or connection string looks like in a template or settings file.
SECRET_PATTERNS = [
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        r"listKeys\(",
        r"listConnectionStrings\(",
        r"listSecrets\(",
        r"AccountKey\s*=",
        r"SharedAccessKey\s*=",
        r"SharedAccessSignature",
        r"InstrumentationKey\s*=",
        r"DefaultEndpointsProtocol\s*=",
        r"primary(Master)?Key",
        r"password",
        r"client_?secret",
    )
]
# The emulators' documented, public development keys: allowed in the local sample only.
# https://learn.microsoft.com/azure/cosmos-db/emulator#authentication
COSMOS_EMULATOR_KEY = (
    "AccountKey="
    "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
)
# https://learn.microsoft.com/azure/event-hubs/test-locally-with-event-hub-emulator
EVENT_HUBS_EMULATOR_KEY = "SharedAccessKey=SAS_KEY_VALUE"
WELL_KNOWN_DEV_KEYS = {SAMPLE_SETTINGS: (COSMOS_EMULATOR_KEY, EVENT_HUBS_EMULATOR_KEY)}

# App settings Flex Consumption rejects or ignores: runtime and content come from functionAppConfig.
# https://learn.microsoft.com/azure/azure-functions/functions-app-settings#flex-consumption-plan-deprecations
FLEX_DEPRECATED_SETTINGS = {
    "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_EXTENSION_VERSION",
    "FUNCTIONS_WORKER_RUNTIME_VERSION",
    "WEBSITE_RUN_FROM_PACKAGE",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
    "WEBSITE_CONTENTSHARE",
    "AzureWebJobsStorage",
}


def secrets_in(text: str, allowed: tuple[str, ...] = ()) -> list[str]:
    for value in allowed:
        text = text.replace(value, "")
    return [match.group(0) for pattern in SECRET_PATTERNS for match in pattern.finditer(text)]


def checked_files() -> list[Path]:
    files = [*bicep_files(), *PARAMETER_FILES, SAMPLE_SETTINGS, COMPOSE, EMULATOR_CONFIG]
    return [path for path in files if path.exists()]


# --- no secrets ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", checked_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_key_or_connection_string_is_in_a_deployment_file(path: Path):
    assert secrets_in(path.read_text(), WELL_KNOWN_DEV_KEYS.get(path, ())) == []


def test_the_secret_scan_catches_a_storage_connection_string():
    leaked = "AzureWebJobsStorage: 'DefaultEndpointsProtocol=https;AccountName=x;AccountKey=abc=='"
    assert secrets_in(leaked) != []
    assert secrets_in(f"value: '{storage_keys()}'") != []


def storage_keys() -> str:
    return "${storage.listKeys().keys[0].value}"


def test_only_the_emulators_public_keys_appear_in_the_local_sample():
    text = SAMPLE_SETTINGS.read_text()
    assert COSMOS_EMULATOR_KEY in text
    assert EVENT_HUBS_EMULATOR_KEY in text
    assert "UseDevelopmentEmulator=true" in text


def test_no_template_declares_a_secure_parameter_or_secret_output():
    for path in bicep_files():
        text = path.read_text()
        assert "@secure()" not in text, path.name
        for name in template(path).tree.get("outputs", {}):
            assert secrets_in(name) == [], name
            assert "connection" not in name.lower(), name


# --- local auth off, identity-based connections -------------------------------------------


def test_cosmos_db_accepts_only_entra_tokens():
    account = module("cosmos").resource("account")["properties"]
    assert account["disableLocalAuth"] is True
    assert account["disableKeyBasedMetadataWriteAccess"] is True
    assert account["minimalTlsVersion"] == "Tls12"


def test_event_hubs_accepts_only_entra_tokens_over_tls_1_2():
    namespace = module("eventhubs").resource("namespace")
    assert namespace["sku"]["name"] == "Standard"
    assert namespace["properties"]["disableLocalAuth"] is True
    assert namespace["properties"]["minimumTlsVersion"] == "1.2"


def test_host_storage_refuses_shared_keys_and_anonymous_reads():
    storage = module("storage").resource("storage")["properties"]
    assert storage["allowSharedKeyAccess"] is False
    assert storage["allowBlobPublicAccess"] is False
    assert storage["minimumTlsVersion"] == "TLS1_2"
    assert storage["supportsHttpsTrafficOnly"] is True


def test_application_insights_accepts_only_entra_authenticated_telemetry():
    component = module("monitoring").resource("appInsights")["properties"]
    assert component["DisableLocalAuth"] is True
    settings = deployed_app_settings()
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"].endswith(";Authorization=AAD")
    # Its connection string locates the ingestion endpoint; without local auth it grants nothing.
    assert "ConnectionString" in str(settings["APPLICATIONINSIGHTS_CONNECTION_STRING"])


def test_the_only_connection_string_setting_is_application_insights_locator():
    names = [n for n in deployed_app_settings() if "connection" in n.lower()]
    assert names == ["APPLICATIONINSIGHTS_CONNECTION_STRING"]


def test_the_function_app_runs_on_flex_consumption_as_its_user_assigned_identity():
    app = module("functionapp")
    plan, site = app.resource("plan"), app.resource("site")
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    assert plan["properties"]["reserved"] is True
    assert site["kind"] == "functionapp,linux"
    assert site["identity"]["type"] == "UserAssigned"
    config = site["properties"]["functionAppConfig"]
    assert config["runtime"]["name"] == "python"
    assert config["runtime"]["version"] == "pythonVersion"  # see test_bicep_runtime.py
    storage = config["deployment"]["storage"]
    assert storage["type"] == "blobContainer"
    assert storage["authentication"]["type"] == "UserAssignedIdentity"
    assert storage["authentication"]["userAssignedIdentityResourceId"] == "identityId"


def test_the_function_app_serves_https_only_with_tls_1_2_and_no_ftp_or_basic_auth():
    app = module("functionapp")
    site = app.resource("site")["properties"]
    assert site["httpsOnly"] is True
    assert site["siteConfig"]["minTlsVersion"] == "1.2"
    assert site["siteConfig"]["ftpsState"] == "Disabled"
    policies = {
        app.resource(name)["name"]: app.resource(name)["properties"]["allow"]
        for name, resource in app.resources.items()
        if resource["type"] == "Microsoft.Web/sites/basicPublishingCredentialsPolicies"
    }
    assert policies == {"ftp": False, "scm": False}


def test_no_app_setting_is_one_flex_consumption_rejects():
    assert set(deployed_app_settings()) & FLEX_DEPRECATED_SETTINGS == set()


def test_host_storage_is_reached_through_the_identity():
    settings = deployed_app_settings()
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert "AzureWebJobsStorage__accountName" in settings
    assert "AzureWebJobsStorage__clientId" in settings


# --- role assignments: exactly what each function does ------------------------------------


def role_assignments() -> dict[tuple[str, str], tuple[Template, dict]]:
    """(module, resource) -> (template, body) for every Azure RBAC role assignment."""
    found = {}
    for path in bicep_files():
        parsed = template(path)
        for name, resource in parsed.resources.items():
            if resource["type"] == ROLE_ASSIGNMENT:
                found[(path.stem, name)] = (parsed, parsed.resource(name))
    return found


def test_the_app_identity_holds_exactly_these_azure_roles():
    granted = {
        (where[0], role_definition_guid(owner, body["properties"]["roleDefinitionId"]))
        for where, (owner, body) in role_assignments().items()
    }
    assert granted == {
        ("storage", STORAGE_BLOB_DATA_OWNER),
        ("monitoring", MONITORING_METRICS_PUBLISHER),
        ("eventhubs", EVENT_HUBS_DATA_SENDER),
        ("eventhubs", EVENT_HUBS_DATA_RECEIVER),
    }


def test_every_role_goes_to_the_app_identity_as_a_service_principal():
    main = template(MAIN)
    for (module_name, _), (_, body) in role_assignments().items():
        principal = body["properties"]["principalId"]
        assert body["properties"]["principalType"] == "ServicePrincipal"
        passed = main.module_params(module_name if module_name != "eventhubs" else "eventHubs")
        given = json.dumps(passed[principal])
        assert "identity" in given, module_name
        assert "principalId" in given, module_name


def test_event_hubs_roles_are_scoped_to_single_hubs_send_on_all_receive_on_consumed():
    hubs = module("eventhubs")
    sender, receiver = hubs.resource("senderRoles"), hubs.resource("receiverRoles")
    sends = role_definition_guid(hubs, sender["properties"]["roleDefinitionId"])
    receives = role_definition_guid(hubs, receiver["properties"]["roleDefinitionId"])
    assert (sends, receives) == (EVENT_HUBS_DATA_SENDER, EVENT_HUBS_DATA_RECEIVER)
    assert hubs.loop_array("senderRoles") == hubs.loop_array("senderHubs") == "senderHubNames"
    assert hubs.loop_array("receiverRoles") == hubs.loop_array("consumedHubs") == "consumers"
    for role, scope in ((sender, "senderHubs"), (receiver, "consumedHubs")):
        assert role["scope"]["operator"]["operands"]["operand_1"] == scope
        assert hubs.resources[scope]["type"] == "Microsoft.EventHub/namespaces/eventhubs"

    main = template(MAIN)
    params = main.resolve(main.module_params("eventHubs"))
    published = {value for name, value in DEFAULTS.items() if name.endswith("_HUB")}
    consumed = {consumer["hub"] for consumer in params["consumers"]}
    assert set(params["senderHubNames"]) == published
    assert consumed == {DEFAULTS[aggregate.hub_setting] for aggregate in AGGREGATES}


def test_cosmos_data_access_is_the_built_in_data_contributor_sql_role_only():
    cosmos = module("cosmos")
    sql_roles = {
        name: cosmos.resource(name)
        for name, resource in cosmos.resources.items()
        if resource["type"] == "Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments"
    }
    assert list(sql_roles) == ["dataContributor"]
    assignment = sql_roles["dataContributor"]
    assert cosmos.resolve("dataContributorRoleDefinitionId") == COSMOS_BUILT_IN_DATA_CONTRIBUTOR
    assert "sqlRoleDefinitions" in json.dumps(assignment["properties"]["roleDefinitionId"])
    assert assignment["properties"]["principalId"] == "appPrincipalId"


# --- checkov --------------------------------------------------------------------------------


def checkov_executable() -> str | None:
    local = ROOT / ".venv-checkov" / "bin" / "checkov"
    return os.environ.get("CHECKOV") or (str(local) if local.exists() else shutil.which("checkov"))


@pytest.mark.timeout(180)
def test_checkov_finds_nothing_that_is_not_justified_in_the_templates():
    executable = checkov_executable()
    if executable is None:
        pytest.skip("checkov is not installed: run tests/infra/run_checkov.sh once (own venv)")
    run = subprocess.run(
        [executable, "--framework", "bicep", "-d", str(BICEP_DIR), "-o", "json", "--skip-download"],
        capture_output=True,
        text=True,
        check=False,
        timeout=170,
    )
    report = json.loads(run.stdout)
    report = report[0] if isinstance(report, list) else report
    assert report["summary"]["parsing_errors"] == 0
    failed = [(c["check_id"], c["file_path"]) for c in report["results"]["failed_checks"]]
    assert failed == []
    for skipped in report["results"]["skipped_checks"]:
        assert len(skipped["check_result"].get("suppress_comment", "")) > 20, skipped["check_id"]
