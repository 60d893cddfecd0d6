"""`python -m devhost wiring [--write]`: the deployment files derived from the registry of
aggregates (domain/registry.py) and bootstrap.DEFAULTS: infra/bicep/aggregates.json (which
main.bicep loads), the Event Hubs emulator's config, the sample settings' values, and the
tables of aggregates and hubs in README.md and docs/eventhubs.md (between `<!-- wiring:NAME -->`
and `<!-- /wiring -->`). Without --write, lists the files that differ from what would be
generated (exit 1 if any)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from bootstrap import DEFAULTS
from domain.registry import AGGREGATES

ROOT = Path(__file__).resolve().parents[1]
BICEP_WIRING = ROOT / "infra" / "bicep" / "aggregates.json"
EMULATOR_CONFIG = ROOT / "infra" / "emulators" / "eventhubs-config.json"
SAMPLE_SETTINGS = ROOT / "local.settings.sample.json"
README = ROOT / "README.md"
EVENTHUBS_DOC = ROOT / "docs" / "eventhubs.md"
# Outside readers' consumer group on saga-events: main.bicep's `hubSubscribers`.
SAGA_SUBSCRIBERS = "saga-subscribers"
EMULATOR_PARTITIONS = 2
GENERATED_BY = (
    "Generated from domain/registry.py by `python -m devhost wiring --write`; do not edit "
    "(tests/infra/test_wiring.py checks it is current)."
)


def bicep_wiring() -> dict[str, Any]:
    """What main.bicep derives the aggregates' hubs, consumer groups, roles and settings from."""
    return {
        "_comment": GENERATED_BY,
        "names": {name: DEFAULTS[name] for a in AGGREGATES for name in a.wiring_defaults},
        "ruleSettings": {name: DEFAULTS[name] for a in AGGREGATES for name in a.settings},
        "commandHubs": [
            {
                "category": a.category,
                "hub": DEFAULTS[a.hub_setting],
                "consumerGroup": DEFAULTS[a.consumer_group_setting],
            }
            for a in AGGREGATES
        ],
    }


def emulator_config(current: dict[str, Any]) -> dict[str, Any]:
    """The emulator's Config.json with one entity per hub the app publishes to."""
    entities = [
        {
            "Name": DEFAULTS[a.hub_setting],
            "PartitionCount": EMULATOR_PARTITIONS,
            "ConsumerGroups": [{"Name": DEFAULTS[a.consumer_group_setting]}],
        }
        for a in AGGREGATES
    ]
    entities.append(
        {
            "Name": DEFAULTS["SAGA_EVENTS_HUB"],
            "PartitionCount": EMULATOR_PARTITIONS,
            "ConsumerGroups": [{"Name": SAGA_SUBSCRIBERS}],
        }
    )
    namespace = {**current["UserConfig"]["NamespaceConfig"][0], "Entities": entities}
    user_config = {**current["UserConfig"], "NamespaceConfig": [namespace]}
    return {**current, "UserConfig": user_config}


def sample_settings(current: dict[str, Any]) -> dict[str, Any]:
    """The sample with every setting of bootstrap.DEFAULTS: values already there are kept (the
    emulators' own), a missing one is added with its default after the setting before it."""
    names = list(current["Values"])
    values = dict(current["Values"])
    previous: str | None = None
    for name, default in DEFAULTS.items():
        if name not in values:
            names.insert(names.index(previous) + 1 if previous else len(names), name)
            values[name] = default
        previous = name
    return {**current, "Values": {name: values[name] for name in names}}


def aggregates_table() -> str:
    """README's table: each aggregate's stream, commands and events."""
    rows = [
        f"| `{a.category}-{{{a.target_field}}}` | {', '.join(a.commands)} | {', '.join(a.events)} |"
        for a in AGGREGATES
    ]
    return "\n".join(["| Aggregate (stream) | Commands | Events |", "|---|---|---|", *rows])


def hubs_table() -> str:
    """docs/eventhubs.md's table: each hub, what it carries and its partition key."""
    rows = [
        f"| `{a.hub_setting}` = `{DEFAULTS[a.hub_setting]}` | {', '.join(a.commands)} "
        f"| `aggregateId` ({a.target_field}) |"
        for a in AGGREGATES
    ]
    saga = f"| `SAGA_EVENTS_HUB` = `{DEFAULTS['SAGA_EVENTS_HUB']}` "
    saga += "| events given to `publish(events=...)` | correlationId (quote id) |"
    header = ["| Hub (setting, default) | Carries | Partition key |", "|---|---|---|"]
    return "\n".join([*header, *rows, saga])


def readme_hubs_table() -> str:
    """README's table of hubs: each with what it carries, its key and consumer group."""
    rows = [
        f"| `{DEFAULTS[a.hub_setting]}` | {', '.join(a.commands)} | {a.target_field} "
        f"| `{DEFAULTS[a.consumer_group_setting]}` |"
        for a in AGGREGATES
    ]
    saga = f"| `{DEFAULTS['SAGA_EVENTS_HUB']}` | every domain event, for outside subscribers "
    saga += f"| quote id (correlation id) | `{SAGA_SUBSCRIBERS}` (the app has no role on it) |"
    header = ["| Hub | Carries | Partition key | Consumer group |", "|---|---|---|---|"]
    return "\n".join([*header, *rows, saga])


def with_table(text: str, name: str, table: str) -> str:
    """`text` with the block between `<!-- wiring:name -->` and `<!-- /wiring -->` replaced."""
    pattern = re.compile(rf"(<!-- wiring:{name} -->\n).*?(<!-- /wiring -->)", re.S)
    if pattern.search(text) is None:
        raise ValueError(f"no `<!-- wiring:{name} -->` ... `<!-- /wiring -->` block")
    return pattern.sub(lambda m: f"{m.group(1)}{table}\n{m.group(2)}", text, count=1)


def render(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def generated() -> dict[Path, str]:
    """Each derived file's text as it should be committed."""
    return {
        BICEP_WIRING: render(bicep_wiring()),
        EMULATOR_CONFIG: render(emulator_config(json.loads(EMULATOR_CONFIG.read_text()))),
        SAMPLE_SETTINGS: render(sample_settings(json.loads(SAMPLE_SETTINGS.read_text()))),
        README: with_table(
            with_table(README.read_text(), "aggregates", aggregates_table()),
            "readme-hubs",
            readme_hubs_table(),
        ),
        EVENTHUBS_DOC: with_table(EVENTHUBS_DOC.read_text(), "hubs", hubs_table()),
    }


def stale() -> list[Path]:
    """The derived files whose committed text is not what the registry generates."""
    return [
        path for path, text in generated().items() if not path.exists() or path.read_text() != text
    ]


def run(write: bool) -> int:
    if write:
        for path, text in generated().items():
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
        return 0
    outdated = stale()
    for path in outdated:
        print(f"{path.relative_to(ROOT)} is not what the registry generates")
    if outdated:
        print("run `python -m devhost wiring --write` and commit the result")
    return 1 if outdated else 0
