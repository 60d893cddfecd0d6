"""Every aggregate in the registry (domain/registry.py) is wired everywhere it must be: settings,
inbox, Functions trigger, both publishers' routes, Bicep, the sample settings and the emulator.
Each failure names the piece that is missing and what to do about it; README's "Extend it"
sends a developer adding an aggregate here."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.eventhubs import create_eventhubs_publisher
from adapters.memory import (
    InMemoryCommandPublisher,
    InMemoryDeadLetterStore,
    InMemoryEventStore,
    InMemoryViewStore,
)
from adapters.sqlite_log import SqliteLogCommandPublisher
from bootstrap import DEFAULTS, EVENTHUBS_CONNECTION, Adapters, Services, Settings
from devhost import wiring
from domain.aggregate import AnyAggregate
from domain.messages import CommandEnvelope
from domain.registry import AGGREGATES
from tests.infra import (
    EMULATOR_CONFIG,
    MAIN,
    ROOT,
    SAMPLE_SETTINGS,
    deployed_app_settings,
    indexed_bindings,
    template,
)
from triggers import command_handlers

pytestmark = pytest.mark.infra

REGENERATE = "run `python -m devhost wiring --write` and commit what it changes"
# The Event Hubs emulator's documented development connection string (no secret).
EMULATOR_CONNECTION = (
    "Endpoint=sb://localhost;SharedAccessKeyName=RootManageSharedAccessKey;"
    "SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;"
)

each_aggregate = pytest.mark.parametrize("aggregate", AGGREGATES, ids=lambda a: a.category)


def hub_of(aggregate: AnyAggregate) -> str:
    return DEFAULTS[aggregate.hub_setting]


def group_of(aggregate: AnyAggregate) -> str:
    return DEFAULTS[aggregate.consumer_group_setting]


def own_settings(aggregate: AnyAggregate) -> dict[str, str]:
    return {**aggregate.wiring_defaults, **aggregate.settings}


def envelope_for(aggregate: AnyAggregate) -> CommandEnvelope:
    """A command of the aggregate as routing sees it (type and target only)."""
    return CommandEnvelope(
        commandId=f"wiring-{aggregate.category}",
        commandType=next(iter(aggregate.commands)),
        aggregateId="wiring-1",
        correlationId="wiring-1",
        causationId="test_wiring",
        issuedAt=datetime(2024, 1, 1, tzinfo=UTC),
        data={},
    )


@pytest.fixture(scope="module")
def bindings() -> dict[str, list[dict[str, Any]]]:
    return indexed_bindings()


@pytest.fixture(scope="module")
def event_hubs() -> dict[str, Any]:
    main = template(MAIN)
    return main.resolve(main.module_params("eventHubs"))


@each_aggregate
def test_every_aggregate_has_its_settings_with_defaults(aggregate: AnyAggregate):
    missing = {k: v for k, v in own_settings(aggregate).items() if DEFAULTS.get(k) != v}
    assert not missing, (
        f"bootstrap.DEFAULTS lacks {aggregate.category}'s settings {missing}: DEFAULTS must "
        "take every aggregate's hub, consumer group and `settings` from registry.AGGREGATES"
    )


@each_aggregate
def test_every_aggregate_has_an_inbox_on_its_hub(aggregate: AnyAggregate):
    adapters = Adapters(
        InMemoryEventStore(), InMemoryCommandPublisher(), InMemoryViewStore(),
        InMemoryDeadLetterStore(),
    )  # fmt: skip
    services = Services(Settings({}), adapters)
    try:
        inbox = services.inbox(aggregate.category)
    except KeyError:
        pytest.fail(
            f"bootstrap.Services has no inbox for {aggregate.category!r}: Services._inboxes "
            "must make one per registry aggregate (BY_CATEGORY)"
        )
    assert inbox.origin == hub_of(aggregate), (
        f"the {aggregate.category} inbox parks dead letters as from {inbox.origin!r}, not its "
        f"hub {hub_of(aggregate)!r}: build it with settings[aggregate.hub_setting]"
    )


@each_aggregate
def test_every_aggregate_has_an_indexed_trigger_on_its_hub(aggregate: AnyAggregate, bindings):
    name = command_handlers.function_name(aggregate.category)
    assert name in bindings, (
        f"the app indexes no Functions trigger {name}: triggers/command_handlers.py must make "
        "one per registry.AGGREGATES entry, and function_app.py register its blueprint"
    )
    assert getattr(command_handlers, name, None) is not None, (
        f"triggers.command_handlers has no module attribute {name}"
    )
    trigger = next(b for b in bindings[name] if b["type"] == "eventHubTrigger")
    wanted = (f"%{aggregate.hub_setting}%", f"%{aggregate.consumer_group_setting}%")
    assert (trigger["eventHubName"], trigger["consumerGroup"]) == wanted, (
        f"{name} listens on {trigger['eventHubName']} / {trigger['consumerGroup']}, not on "
        f"{wanted[0]} / {wanted[1]}"
    )


@each_aggregate
def test_every_aggregate_has_an_event_hubs_publisher_route(aggregate: AnyAggregate):
    publisher = create_eventhubs_publisher({EVENTHUBS_CONNECTION: EMULATOR_CONNECTION})
    route, hub = publisher.routes.get(aggregate.category), hub_of(aggregate)
    assert route == hub, (
        f"the Event Hubs publisher (adapters/eventhubs.py create_eventhubs_publisher) routes "
        f"{aggregate.category} commands to {route!r}, not {hub!r}: in Azure they "
        f"would never reach handle_{aggregate.category}_commands. Build its `hubs` with "
        "registry.command_hubs(setting)"
    )


@each_aggregate
def test_every_aggregate_has_a_sqlite_log_publisher_route(aggregate: AnyAggregate, tmp_path: Path):
    publisher = SqliteLogCommandPublisher.from_settings(Settings({"SQLITE_DIR": str(tmp_path)}))
    try:
        publisher.publish([envelope_for(aggregate)])
    except KeyError:
        pytest.fail(
            f"the SQLite hub log publisher (adapters/sqlite_log.py from_settings) has no route "
            f"for {aggregate.category} commands: the local host would fail every publish of "
            "one. Build its hubs with registry.command_hubs(setting)"
        )
    log, hub = publisher.log, hub_of(aggregate)
    found = [m for p in range(log.partitions) for m in log.read(hub, p, -1, 10)]
    assert len(found) == 1, (
        f"the SQLite hub log publisher wrote no {aggregate.category} command to {hub!r}: "
        "build its hubs with registry.command_hubs(setting)"
    )


@each_aggregate
def test_every_aggregate_is_deployed_by_bicep(aggregate: AnyAggregate, event_hubs):
    unread = [
        k
        for k in ("hubNames", "senderHubNames", "consumers")
        if not isinstance(event_hubs[k], list)
    ]
    assert not unread, (
        f"tests/infra cannot read main.bicep's eventHubs params {unread} (a function its resolver "
        "does not follow?): derive them from `wiring` with loops, concat and union"
    )
    hub, group = hub_of(aggregate), group_of(aggregate)
    fix = (
        f"{REGENERATE} (infra/bicep/aggregates.json), and keep main.bicep deriving appNames, "
        "publishedHubs and hubConsumers from it"
    )
    assert hub in event_hubs["hubNames"], (
        f"Bicep creates no hub {hub!r} ({aggregate.category}): {fix}"
    )
    assert hub in event_hubs["senderHubNames"], (
        f"Bicep grants the app no Data Sender role on {hub!r}: {fix}"
    )
    consumers = {(c["hub"], c["consumerGroup"]) for c in event_hubs["consumers"]}
    assert (hub, group) in consumers, (
        f"Bicep creates no consumer group {group!r} on {hub!r} (nor its Data Receiver role): {fix}"
    )
    settings = deployed_app_settings()
    missing = {k: v for k, v in own_settings(aggregate).items() if settings.get(k) != v}
    assert not missing, f"Bicep deploys no app settings {missing} ({aggregate.category}): {fix}"


@each_aggregate
def test_every_aggregate_is_in_the_sample_settings(aggregate: AnyAggregate):
    values = json.loads(SAMPLE_SETTINGS.read_text())["Values"]
    missing = {k: v for k, v in own_settings(aggregate).items() if values.get(k) != v}
    assert not missing, (
        f"local.settings.sample.json lacks {aggregate.category}'s settings {missing}: {REGENERATE}"
    )


@each_aggregate
def test_every_aggregate_is_in_the_event_hubs_emulator_config(aggregate: AnyAggregate):
    config = json.loads(EMULATOR_CONFIG.read_text())["UserConfig"]["NamespaceConfig"]
    entities = {e["Name"]: e for namespace in config for e in namespace["Entities"]}
    hub, group = hub_of(aggregate), group_of(aggregate)
    groups = {g["Name"] for g in entities.get(hub, {}).get("ConsumerGroups", [])}
    assert group in groups, (
        f"infra/emulators/eventhubs-config.json has no hub {hub!r} with consumer group "
        f"{group!r} ({aggregate.category}): {REGENERATE}"
    )


def test_the_generated_wiring_files_are_what_the_registry_generates():
    stale = ", ".join(str(path.relative_to(ROOT)) for path in wiring.stale())
    assert not stale, f"not what the registry generates: {stale}; {REGENERATE}"


def test_main_bicep_loads_the_generated_wiring():
    main = template(MAIN)
    loaded = main.resolve("wiring")
    assert loaded == json.loads(wiring.BICEP_WIRING.read_text())
    assert wiring.BICEP_WIRING.parent == MAIN.parent
