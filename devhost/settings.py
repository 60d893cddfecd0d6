"""Settings as `func start` makes them: local.settings.json "Values" (when present) over the
app's defaults, the environment over both, then what the local host must force."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path

from bootstrap import DEFAULTS

_EXPRESSION = re.compile(r"%([^%]+)%")
# https://learn.microsoft.com/azure/azure-functions/disable-function: an app setting (or a
# local.settings.json value) per function; the host reads it at start.
_DISABLED = re.compile(r"AzureWebJobs\.(.+)\.Disabled")


def local_values(directory: Path) -> dict[str, str]:
    """The "Values" of local.settings.json in `directory`, or {} when there is none."""
    path = directory / "local.settings.json"
    if not path.exists():
        return {}
    values = json.loads(path.read_text(encoding="utf-8")).get("Values") or {}
    return {str(k): str(v) for k, v in values.items()}


def host_settings(data_dir: Path, app_dir: Path) -> dict[str, str]:
    """The settings the local host runs the app with, also put into os.environ (bootstrap
    reads the environment when the app's services are first built)."""
    values = {**DEFAULTS, **local_values(app_dir)}
    values |= {k: v for k, v in os.environ.items() if k in values or _DISABLED.fullmatch(k)}
    values |= {
        "STORE_BACKEND": "sqlite",
        "PUBLISHER_BACKEND": "sqlite-log",
        "SQLITE_DIR": str(data_dir.resolve()),
    }
    os.environ.update(values)
    return values


def resolve(value: object, settings: Mapping[str, str]) -> object:
    """A binding value with every `%NAME%` replaced by its setting; KeyError if unset."""
    if not isinstance(value, str):
        return value

    def setting(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in settings:
            raise KeyError(f"binding expression %{name}% names no app setting")
        return settings[name]

    return _EXPRESSION.sub(setting, value)


def is_disabled(function_name: str, settings: Mapping[str, str]) -> bool:
    """`AzureWebJobs.<name>.Disabled` is "true" (any case) or "1", as the host reads it."""
    value = settings.get(f"AzureWebJobs.{function_name}.Disabled", "")
    return value.strip().lower() in ("true", "1")


def disabled_functions(settings: Mapping[str, str]) -> list[str]:
    """The names of the functions the settings disable."""
    names = (m.group(1) for k in settings if (m := _DISABLED.fullmatch(k)))
    return [name for name in names if is_disabled(name, settings)]
