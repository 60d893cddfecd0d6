"""The Flex Consumption runtime is one Python version the platform offers and the app supports,
chosen in main.bicep (the module has no default of its own to fall back on)."""

from __future__ import annotations

import tomllib

import pytest

from tests.infra import MAIN, ROOT, module, template

pytestmark = pytest.mark.infra

# Python versions Flex Consumption offers with end of support after today's date (3.10 ended
# 2026-10-30): https://learn.microsoft.com/powershell/module/az.functions/get-azfunctionappflexconsumptionruntime
FLEX_PYTHONS = {"3.11", "3.12", "3.13"}


def allowed(parameter: dict) -> list[str]:
    return next(d["argument"] for d in parameter["decorators"] if d["type"] == "allowed")


def minimum_python() -> tuple[int, ...]:
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    return tuple(int(part) for part in requires.removeprefix(">=").split("."))


def test_main_allows_exactly_the_flex_pythons_the_app_supports_and_defaults_to_one():
    parameter = template(MAIN).parameters["pythonVersion"]
    assert set(allowed(parameter)) == FLEX_PYTHONS
    assert parameter["default"] in FLEX_PYTHONS
    assert all(tuple(map(int, v.split("."))) >= minimum_python() for v in FLEX_PYTHONS)


def test_the_function_app_runs_the_version_main_chose():
    app = module("functionapp")
    parameter = app.parameters["pythonVersion"]
    assert parameter.get("default") is None
    assert set(allowed(parameter)) == set(allowed(template(MAIN).parameters["pythonVersion"]))
    runtime = app.resource("site")["properties"]["functionAppConfig"]["runtime"]
    assert runtime == {"name": "python", "version": "pythonVersion"}
    assert template(MAIN).module_params("functionApp")["pythonVersion"] == "pythonVersion"
