"""Bicep and deployment files read without the Bicep compiler: tree-sitter-bicep for syntax,
pycep-parser for structure, plus a small resolver of variables, parameters, loops and the few
functions main.bicep uses (loadJsonContent, union, concat)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pycep import BicepParser

ROOT = Path(__file__).resolve().parents[2]
BICEP_DIR = ROOT / "infra" / "bicep"
MAIN = BICEP_DIR / "main.bicep"
PARAMETER_FILES = sorted(BICEP_DIR.glob("*.parameters.json"))
SAMPLE_SETTINGS = ROOT / "local.settings.sample.json"
COMPOSE = ROOT / "docker-compose.yml"
EMULATOR_CONFIG = ROOT / "infra" / "emulators" / "eventhubs-config.json"

# Read only by the sqlite adapters (`make demo`), never in Azure, where STORE_BACKEND=cosmos.
LOCAL_ONLY_SETTINGS = {"SQLITE_DIR"}

SETTING_REFERENCE = re.compile(r"%([A-Za-z0-9_]+)%")


def bicep_files() -> list[Path]:
    return sorted(BICEP_DIR.rglob("*.bicep"))


@dataclass(frozen=True)
class Unresolved:
    """A value known only at deployment (a module output, a resource property)."""

    expression: str


@cache
def template(path: Path) -> Template:
    return Template(path, BicepParser().parse(text=path.read_text()))


def module(name: str) -> Template:
    return template(BICEP_DIR / "modules" / f"{name}.bicep")


@dataclass(frozen=True)
class Template:
    path: Path
    tree: dict[str, Any]

    @property
    def resources(self) -> dict[str, Any]:
        return self.tree.get("resources", {})

    @property
    def modules(self) -> dict[str, Any]:
        return self.tree.get("modules", {})

    @property
    def variables(self) -> dict[str, Any]:
        return self.tree.get("variables", {})

    @property
    def parameters(self) -> dict[str, Any]:
        return self.tree.get("parameters", {})

    def resource(self, name: str) -> dict[str, Any]:
        """A resource's body (type, loop and condition wrappers removed)."""
        config = self.resources[name]["config"]
        return config["config"] if "loop_type" in config else config

    def loop_array(self, name: str) -> str | None:
        config = self.resources[name]["config"]
        return config["loop_type"]["detail"]["array_name"] if "loop_type" in config else None

    def module_params(self, name: str) -> dict[str, Any]:
        return self.modules[name]["config"]["params"]

    def resolve(self, value: Any, scope: dict[str, Any] | None = None) -> Any:
        """Literal value of an expression: variables, parameter defaults, loadJsonContent(),
        union(), concat(), `[for x in ...: ...]` and property access are followed; what only
        the deployment knows comes back as `Unresolved`. `scope`: loop variables.

        pycep gives identifiers and string literals the same shape, so a string that names a
        variable or parameter is read as that reference (the templates avoid such clashes)."""
        scope = scope or {}
        if isinstance(value, str):
            if value in scope:
                return scope[value]
            if value in self.variables:
                return self.resolve(self.variables[value]["value"])
            if value in self.parameters:
                default = self.parameters[value].get("default")
                return Unresolved(value) if default is None else self.resolve(default)
            return value
        if isinstance(value, list):
            return [self.resolve(item, scope) for item in value]
        if not isinstance(value, dict):
            return value
        if value.get("loop_type", {}).get("type") == "array" and value.get("condition") is None:
            detail = value["loop_type"]["detail"]
            items = self.resolve(detail["array_name"], scope)
            if not isinstance(items, list) or not isinstance(detail["item_name"], str):
                return Unresolved(json.dumps(value))
            return [
                self.resolve(value["config"], {**scope, detail["item_name"]: item})
                for item in items
            ]
        if "operator" in value and value["operator"]["type"] == "property_accessor":
            operands = value["operator"]["operands"]
            target = self.resolve(operands["operand_1"], scope)
            key = operands["operand_2"]
            if isinstance(target, dict) and isinstance(key, str) and key in target:
                return target[key]
            return Unresolved(json.dumps(value))
        if "function" in value:
            return self._call(value, scope)
        if "operator" in value:
            return Unresolved(json.dumps(value))
        return {key: self.resolve(item, scope) for key, item in value.items()}

    def _call(self, value: dict[str, Any], scope: dict[str, Any]) -> Any:
        function = value["function"]
        if function["type"] == "load_json_content" and function["parameters"]["json_path"] is None:
            return json.loads((self.path.parent / function["parameters"]["file_path"]).read_text())
        parts = [self.resolve(arg, scope) for arg in function["parameters"].values()]
        if function["type"] == "union" and all(isinstance(part, dict) for part in parts):
            merged: dict[str, Any] = {}
            for part in parts:
                merged |= part
            return merged
        if function["type"] == "concat" and all(isinstance(part, list) for part in parts):
            return [item for part in parts for item in part]
        return Unresolved(json.dumps(value))


def role_definition_guid(owner: Template, role_definition_id: Any) -> str | None:
    """The GUID of `subscriptionResourceId('Microsoft.Authorization/roleDefinitions', <guid>)`."""
    function = (
        role_definition_id.get("function", {}) if isinstance(role_definition_id, dict) else {}
    )
    if function.get("type") != "subscription_resource_id":
        return None
    return owner.resolve(function["parameters"]["resource_name_1"])


def indexed_bindings() -> dict[str, list[dict[str, Any]]]:
    """Each function's bindings as the host indexes them (function.json shape)."""
    from function_app import app

    # get_functions() records names on the app and refuses a second call; other tiers call
    # it too, so run it on a clean slate and put their record back.
    previous, app.functions_bindings = app.functions_bindings, None
    try:
        functions = app.get_functions()
    finally:
        app.functions_bindings = previous
    return {f.get_function_name(): json.loads(f.get_function_json())["bindings"] for f in functions}


def deployed_app_settings() -> dict[str, Any]:
    """Every app setting of the Function App: main.bicep's appSettings param plus the host
    settings the functionapp module adds."""
    main = template(MAIN)
    app = module("functionapp")
    from_main = main.resolve(main.module_params("functionApp")["appSettings"])
    host = app.variables["hostSettings"]["value"]
    return from_main | {name: app.resolve(value) for name, value in host.items()}


def binding_setting_names(bindings: list[dict[str, Any]]) -> set[str]:
    """Every `%SETTING%` a binding refers to."""
    names: set[str] = set()
    for binding in bindings:
        for value in binding.values():
            if isinstance(value, str):
                names.update(SETTING_REFERENCE.findall(value))
    return names


def setting_value(reference: str, settings: dict[str, Any]) -> Any:
    """The value a `%SETTING%` binding expression takes under `settings`."""
    match = SETTING_REFERENCE.fullmatch(reference)
    return settings[match.group(1)] if match else reference
