"""OpenTelemetry as the Functions Python guidance has it: the host exports OpenTelemetry
(host.json), the Python worker configures the Azure Monitor distro itself
(PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY) for the app's logger subtree, and the exporter
authenticates with the app identity named in APPLICATIONINSIGHTS_AUTHENTICATION_STRING.
https://learn.microsoft.com/azure/azure-functions/opentelemetry-howto?pivots=programming-language-python"""

from __future__ import annotations

import ast
import json

import pytest

from tests.infra import MAIN, ROOT, SAMPLE_SETTINGS, Unresolved, deployed_app_settings, template

pytestmark = pytest.mark.infra

APP_PACKAGES = ("domain", "application", "adapters", "triggers")


def app_logger_name() -> str:
    return template(MAIN).module_params("functionApp")["appLoggerName"]


def logger_names_in_app_code() -> set[str]:
    """Every literal name passed to logging.getLogger in the deployed code."""
    files = [ROOT / "bootstrap.py", ROOT / "function_app.py"]
    files += [path for package in APP_PACKAGES for path in (ROOT / package).rglob("*.py")]
    names = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "attr", None) == "getLogger"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                names.add(node.args[0].value)
    return names


def test_the_host_exports_opentelemetry():
    assert json.loads((ROOT / "host.json").read_text())["telemetryMode"] == "OpenTelemetry"


def test_the_python_worker_configures_azure_monitor_in_azure():
    settings = deployed_app_settings()
    assert settings["PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY"] == "true"
    assert settings["PYTHON_APPLICATIONINSIGHTS_LOGGER_NAME"] == Unresolved("appLoggerName")
    # The worker imports the distro from the app's own packages.
    assert "azure-monitor-opentelemetry==" in (ROOT / "requirements.txt").read_text()


def test_every_app_logger_is_in_the_subtree_the_worker_exports():
    root = app_logger_name()
    names = logger_names_in_app_code()
    assert names, "no logging.getLogger(...) found: the scan is broken"
    assert {n for n in names if n != root and not n.startswith(f"{root}.")} == set()


def test_the_exporter_takes_the_app_identity_from_the_authentication_string(monkeypatch):
    # The worker calls configure_azure_monitor without a credential; Application Insights has
    # local auth off, so the exporter must build one from this setting (the installed SDK is
    # the oracle: export/_base.py _get_authentication_credential).
    from azure.identity import ManagedIdentityCredential
    from azure.monitor.opentelemetry.exporter import AzureMonitorTraceExporter

    deployed = deployed_app_settings()["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]
    assert deployed == "ClientId=${identityClientId};Authorization=AAD"
    monkeypatch.setenv("APPLICATIONINSIGHTS_AUTHENTICATION_STRING", "ClientId=a;Authorization=AAD")
    exporter = AzureMonitorTraceExporter(
        connection_string="InstrumentationKey=00000000-0000-0000-0000-000000000000",
        disable_offline_storage=True,
    )
    assert isinstance(exporter._credential, ManagedIdentityCredential)


def test_locally_the_worker_leaves_telemetry_off_and_names_the_same_logger():
    sample = json.loads(SAMPLE_SETTINGS.read_text())["Values"]
    # No Application Insights locally: with "true" the worker would log a failed distro set-up.
    assert sample["PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY"] == "false"
    assert sample["PYTHON_APPLICATIONINSIGHTS_LOGGER_NAME"] == app_logger_name()
    assert "APPLICATIONINSIGHTS_CONNECTION_STRING" not in sample
