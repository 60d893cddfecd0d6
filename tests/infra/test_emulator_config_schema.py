"""infra/emulators/eventhubs-config.json is a Config.json the Event Hubs emulator accepts: the
rules of its published schema (restated in schemas/, source and commit in its $comment), plus
at least one consumer group on every hub.

The published file itself is not vendored. To check against it too, download
https://raw.githubusercontent.com/Azure/azure-event-hubs-emulator-installer/main/EventHub-Emulator/Schema/Config-schema.json
and set EVENTHUBS_EMULATOR_SCHEMA to its path."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from tests.infra import EMULATOR_CONFIG

pytestmark = pytest.mark.infra

SCHEMA = Path(__file__).parent / "schemas" / "eventhubs-emulator-config.schema.json"
PUBLISHED = os.environ.get("EVENTHUBS_EMULATOR_SCHEMA")
# The published name pattern is ECMA-262; Python's re rejects its class `[\w-\.\/]` ("bad
# character range"). ECMA reads it as word characters, '-', '.', '/': the same set, reordered.
ECMA_CLASS, PYTHON_CLASS = r"[\w-\.\/]", r"[\w./-]"

Config = dict[str, Any]


def config() -> Config:
    return json.loads(EMULATOR_CONFIG.read_text())


def hubs(document: Config) -> list[Config]:
    return [hub for ns in document["UserConfig"]["NamespaceConfig"] for hub in ns["Entities"]]


def python_patterns(node: Any) -> int:
    """Rewrite the published ECMA-only class in every `pattern`; returns how many it rewrote."""
    rewritten = 0
    if isinstance(node, dict):
        if ECMA_CLASS in str(node.get("pattern", "")):
            node["pattern"] = node["pattern"].replace(ECMA_CLASS, PYTHON_CLASS)
            rewritten += 1
        rewritten += sum(python_patterns(value) for value in node.values())
    elif isinstance(node, list):
        rewritten += sum(python_patterns(item) for item in node)
    return rewritten


def validator(path: Path = SCHEMA) -> Draft7Validator:
    schema = json.loads(path.read_text())
    if path != SCHEMA:
        assert python_patterns(schema) == 2, "the published name patterns changed: review"
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


def errors(document: Config, path: Path = SCHEMA) -> list[str]:
    return sorted(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator(path).iter_errors(document)
    )


def hubs_without_consumer_groups(document: Config) -> list[str]:
    return [hub["Name"] for hub in hubs(document) if not hub.get("ConsumerGroups")]


def set_first_hub(key: str, value: Any) -> Callable[[Config], None]:
    def change(document: Config) -> None:
        hubs(document)[0][key] = value

    return change


def drop_consumer_groups_of_last_hub(document: Config) -> None:
    del hubs(document)[-1]["ConsumerGroups"]


def add_hubs_up_to(count: int) -> Callable[[Config], None]:
    def change(document: Config) -> None:
        entities = document["UserConfig"]["NamespaceConfig"][0]["Entities"]
        while len(entities) < count:
            entities.append({**copy.deepcopy(entities[0]), "Name": f"extra-{len(entities)}"})

    return change


BREAKAGES: dict[str, Callable[[Config], None]] = {
    "a partition count written as a string": set_first_hub("PartitionCount", "2"),
    "a partition count over the emulator's 32": set_first_hub("PartitionCount", 33),
    "a hub with an empty consumer group list": set_first_hub("ConsumerGroups", []),
    "a hub that lists no consumer groups": drop_consumer_groups_of_last_hub,
    "a hub name with a space": set_first_hub("Name", "quote commands"),
    "a hub name ending in a hyphen": set_first_hub("Name", "quote-"),
    "a consumer group named $default": set_first_hub("ConsumerGroups", [{"Name": "$default"}]),
    "eleven hubs in one namespace": add_hubs_up_to(11),
}


def broken(name: str) -> Config:
    document = config()
    BREAKAGES[name](document)
    return document


def test_the_repository_config_satisfies_the_emulator_schema():
    assert errors(config()) == []


def test_every_emulated_hub_has_at_least_one_consumer_group():
    assert hubs_without_consumer_groups(config()) == []


def test_partition_counts_are_json_integers_not_strings():
    counts = [hub["PartitionCount"] for hub in hubs(config())]
    assert counts
    assert all(type(count) is int for count in counts), counts


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_a_broken_config_fails_the_schema(breakage: str):
    assert errors(broken(breakage)) != []


@pytest.mark.parametrize(
    "breakage", ["a hub with an empty consumer group list", "a hub that lists no consumer groups"]
)
def test_the_explicit_check_names_the_hub_without_consumer_groups(breakage: str):
    names = hubs_without_consumer_groups(broken(breakage))
    assert len(names) == 1
    assert names[0] in {hub["Name"] for hub in hubs(config())}


published = pytest.mark.skipif(
    not PUBLISHED,
    reason="EVENTHUBS_EMULATOR_SCHEMA is not set (path of the published Config-schema.json)",
)


@published
def test_the_repository_config_satisfies_the_published_schema():
    assert errors(config(), Path(str(PUBLISHED))) == []


@published
@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_the_restated_schema_rejects_what_the_published_one_rejects(breakage: str):
    by_published = errors(broken(breakage), Path(str(PUBLISHED))) != []
    # The published schema lets a hub omit ConsumerGroups (the emulator then applies its
    # default); the restated one requires the list. Every other verdict must agree.
    assert by_published == (breakage != "a hub that lists no consumer groups")
