"""The local host reads `AzureWebJobs.<name>.Disabled` as the Functions host does."""

from __future__ import annotations

import os

import pytest

from devhost.settings import disabled_functions, host_settings, is_disabled

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def own_environment(monkeypatch):
    """host_settings writes the settings into os.environ: keep them out of other tests."""
    monkeypatch.setattr(os, "environ", dict(os.environ))


@pytest.mark.parametrize(
    ("value", "disabled"),
    [("true", True), ("True", True), ("1", True), ("false", False), ("0", False), ("", False)],
)
def test_a_function_is_disabled_by_true_or_1(value, disabled):
    assert is_disabled("orchestrate", {"AzureWebJobs.orchestrate.Disabled": value}) is disabled


def test_the_disabled_functions_are_named_by_their_settings():
    settings = {
        "AzureWebJobs.handle_policy_commands.Disabled": "true",
        "AzureWebJobs.orchestrate.Disabled": "false",
        "COSMOS_DATABASE": "quoting",
    }
    assert disabled_functions(settings) == ["handle_policy_commands"]


def test_the_environment_can_disable_a_function(tmp_path, monkeypatch):
    monkeypatch.setenv("AzureWebJobs.expire_stuck_sagas.Disabled", "true")
    settings = host_settings(tmp_path / "data", tmp_path)
    assert disabled_functions(settings) == ["expire_stuck_sagas"]


def test_local_settings_can_disable_a_function(tmp_path):
    (tmp_path / "local.settings.json").write_text(
        '{"Values": {"AzureWebJobs.orchestrate.Disabled": "true"}}'
    )
    assert disabled_functions(host_settings(tmp_path / "data", tmp_path)) == ["orchestrate"]
