"""The app's functions as the host will index them: triggers, argument names, connection
settings, names of containers and hubs, retry policies."""

import inspect
import json
import re
from pathlib import Path

import pytest

from bootstrap import COSMOS_CONNECTION, DEFAULTS, EVENTHUBS_CONNECTION
from domain.registry import AGGREGATES
from triggers.command_handlers import function_name

pytestmark = pytest.mark.functions

ROOT = Path(__file__).resolve().parents[2]
NON_HTTP = {
    "orchestrate": "cosmosDBTrigger",
    **{function_name(a.category): "eventHubTrigger" for a in AGGREGATES},
    "expire_stuck_sagas": "timerTrigger",
}


def trigger(function) -> dict:
    """The trigger binding as function.json gives it to the host (enums as their names)."""
    bindings = json.loads(function.get_function_json())["bindings"]
    return next(b for b in bindings if b["type"].endswith("Trigger"))


def test_every_non_http_function_has_its_trigger_type(functions):
    for name, kind in NON_HTTP.items():
        assert trigger(functions[name])["type"] == kind, name


def test_every_trigger_arg_name_is_a_parameter_of_its_function(functions):
    # The Python library does not check this; the host fails at start-up when it is wrong.
    for name, function in functions.items():
        parameters = inspect.signature(function.get_user_function()).parameters
        for binding in function.get_bindings():
            arg = binding.get_dict_repr()["name"]
            if arg != "$return":
                assert arg in parameters, f"{name}: binding {arg!r} has no parameter"


def test_the_orchestrator_reads_the_events_container_with_its_own_lease_prefix(functions):
    binding = trigger(functions["orchestrate"])
    assert binding["connection"] == COSMOS_CONNECTION
    assert binding["databaseName"] == "%COSMOS_DATABASE%"
    assert binding["containerName"] == "%EVENTS_CONTAINER%"
    assert binding["leaseContainerName"] == "%LEASES_CONTAINER%"
    assert binding["leaseContainerPrefix"] == "orchestrator"
    assert binding["createLeaseContainerIfNotExists"] is False


def test_the_orchestrator_reads_the_feed_from_the_beginning_and_polls_twice_a_second(functions):
    binding = trigger(functions["orchestrate"])
    assert binding["startFromBeginning"] is True  # events appended before the first lease
    assert binding["feedPollDelay"] == 500  # milliseconds; the default of 5000 costs 2.5 s a hop


@pytest.mark.parametrize("aggregate", AGGREGATES, ids=lambda a: a.category)
def test_each_command_hub_has_a_handler_with_its_own_consumer_group(functions, aggregate):
    binding = trigger(functions[function_name(aggregate.category)])
    assert binding["connection"] == EVENTHUBS_CONNECTION
    assert binding["eventHubName"] == f"%{aggregate.hub_setting}%"
    assert binding["consumerGroup"] == f"%{aggregate.consumer_group_setting}%"
    assert binding["cardinality"] == "MANY"


def test_every_non_http_trigger_retries_with_exponential_backoff(functions):
    for name in NON_HTTP:
        policy = functions[name].get_settings_dict("retry_policy")
        assert policy is not None, name
        assert policy["strategy"] == "exponential_backoff"
        assert int(policy["max_retry_count"]) >= 3


def test_every_binding_expression_names_a_known_setting(functions):
    for function in functions.values():
        text = json.dumps(function.get_function_json())
        for setting in re.findall(r"%([A-Za-z0-9_]+)%", text):
            assert setting in DEFAULTS, setting


def test_the_sample_settings_name_everything_the_app_reads(functions):
    sample = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    for setting in DEFAULTS:
        assert setting in sample, setting
    for function in functions.values():
        connection = trigger(function).get("connection")
        if connection:
            assert connection in sample or f"{connection}__accountEndpoint" in sample
