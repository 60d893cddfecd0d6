"""Azure Monitor is configured once: by the Python worker where it exports (Azure, with
PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY), else by the app when a connection string is set."""

from __future__ import annotations

import sys
import types

import pytest

from bootstrap import Settings, configure_telemetry

pytestmark = pytest.mark.unit
CONNECTION = {"APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=00000000-0000"}


@pytest.fixture
def exporter(monkeypatch) -> list[dict]:
    """A stand-in azure.monitor.opentelemetry that records its configure calls."""
    calls: list[dict] = []
    module = types.ModuleType("azure.monitor.opentelemetry")
    module.configure_azure_monitor = lambda **kwargs: calls.append(kwargs)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "azure.monitor.opentelemetry", module)
    return calls


@pytest.mark.parametrize("flag", ["true", "True", "1", " yes "])
def test_the_app_leaves_export_to_the_worker_when_the_worker_exports(exporter, flag):
    configure_telemetry(
        Settings(CONNECTION | {"PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY": flag})
    )
    assert exporter == []


@pytest.mark.parametrize("flag", [None, "false", "0"])
def test_the_app_exports_its_own_logger_on_any_other_host(exporter, flag):
    extra = {} if flag is None else {"PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY": flag}
    configure_telemetry(Settings(CONNECTION | extra))
    assert [call["logger_name"] for call in exporter] == ["quoting"]


def test_nothing_is_exported_without_a_connection_string(exporter):
    configure_telemetry(Settings({}))
    assert exporter == []
