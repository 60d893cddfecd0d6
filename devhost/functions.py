"""What the host needs to know about each function of the app: its trigger (with `%NAME%`
expressions resolved), its retry policy, and how to call it."""

from __future__ import annotations

import asyncio
import inspect
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func

from devhost.retry import RetryPolicy
from devhost.settings import is_disabled, resolve

TRIGGERS = ("httpTrigger", "cosmosDBTrigger", "eventHubTrigger", "timerTrigger")


@dataclass
class Function:
    name: str
    trigger_type: str
    trigger: dict[str, Any]  # the trigger binding of function.json, expressions resolved
    retry: RetryPolicy
    user_function: Callable[..., Any]
    wants_context: bool
    _loop: Any = field(default=None, repr=False)

    def call(self, payload: object, context: func.Context) -> Any:
        """Call the user function as the worker does: the trigger payload under its arg
        name, the context if the function takes one; async functions on one event loop."""
        kwargs: dict[str, Any] = {self.trigger["name"]: payload}
        if self.wants_context:
            kwargs["context"] = context
        if self._loop is not None:
            return asyncio.run_coroutine_threadsafe(
                self.user_function(**kwargs), self._loop
            ).result()
        return self.user_function(**kwargs)


def discover(indexed_functions: Sequence[Any], settings: Mapping[str, str]) -> list[Function]:
    """The functions to run, from the app's indexed functions (devhost.indexing), without
    those disabled by `AzureWebJobs.<name>.Disabled`; a ValueError for a binding the local
    host cannot run (so it fails at start, as the real host's indexing does)."""
    functions, loop = [], None
    for indexed in indexed_functions:
        name = indexed.get_function_name()
        if is_disabled(name, settings):
            continue
        bindings = json.loads(indexed.get_function_json())["bindings"]
        triggers = [b for b in bindings if b["type"].endswith("Trigger")]
        if len(triggers) != 1 or triggers[0]["type"] not in TRIGGERS:
            raise ValueError(f"{name}: the local host runs only {', '.join(TRIGGERS)}")
        others = [b for b in bindings if b is not triggers[0]]
        if any(not (b["type"] == "http" and b["name"] == "$return") for b in others):
            raise ValueError(f"{name}: the local host supports no input or output bindings")
        trigger = {k: resolve(v, settings) for k, v in triggers[0].items()}
        user_function = indexed.get_user_function()
        parameters = inspect.signature(user_function).parameters
        if trigger["name"] not in parameters:
            raise ValueError(f"{name}: arg_name {trigger['name']!r} is no parameter")
        if inspect.iscoroutinefunction(user_function) and loop is None:
            loop = _event_loop()
        functions.append(
            Function(
                name,
                trigger["type"],
                trigger,
                RetryPolicy.from_settings(indexed.get_settings_dict("retry_policy")),
                user_function,
                "context" in parameters,
                loop if inspect.iscoroutinefunction(user_function) else None,
            )
        )
    return functions


def _event_loop() -> asyncio.AbstractEventLoop:
    """One event loop in a thread of its own for every async function, as the worker has."""
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, name="devhost-asyncio", daemon=True).start()
    return loop
