"""Indexing the app as the Python worker does, so the local host refuses what Azure refuses.

Where the worker's own code is importable (`azure-functions-runtime`, Python >= 3.13: the same
indexing and validation the 3.11/3.12 worker ships inside the host), the app is indexed by it:
`loader.index_function_app`, then `Registry.add_indexed_function` for every function, with the
binding registry loaded. Its `FunctionLoadError` stops the start, message and all. Elsewhere the
library's own converters judge each trigger parameter's annotation — the check the worker makes
last — so `list[func.EventHubEvent]` is refused on every Python.
"""

from __future__ import annotations

import importlib
import sys
import types
import typing
from pathlib import Path
from typing import Any

import azure.functions as func

# The members of the worker's protobuf module that indexing reads: BindingInfo's Direction and
# DataType enums, values as in FunctionRpc.proto (`in = 0; out = 1; inout = 2`, `undefined = 0`).
# https://github.com/Azure/azure-functions-python-worker (protos/_src/src/proto/FunctionRpc.proto)
PROTOS = types.SimpleNamespace(
    BindingInfo=types.SimpleNamespace(
        **{"in": 0}, out=1, inout=2, undefined=0, string=1, binary=2, stream=3
    )
)


class IndexingError(Exception):
    """The app would not load in the worker: one function's bindings or annotations."""


def worker_indexer_available() -> bool:
    try:
        import azure_functions_runtime  # noqa: F401
    except ImportError:
        return False
    return True


def index(app_dir: Path) -> list[Any]:
    """The functions of `app_dir/function_app.py` (the library's `Function` objects), indexed
    by the worker when it is importable, else checked by the library's converters;
    IndexingError if refused. Imports the app: call it once per process, as the worker does."""
    if str(app_dir) not in sys.path:
        sys.path.insert(0, str(app_dir))
    if not worker_indexer_available():
        functions = _function_app(importlib.import_module("function_app")).get_functions()
        for function in functions:
            _check_trigger_annotation(function)
        return functions
    from azure_functions_runtime import functions as worker_functions
    from azure_functions_runtime import loader
    from azure_functions_runtime.bindings import meta

    meta.load_binding_registry()
    try:
        functions = loader.index_function_app(str(app_dir / "function_app.py"))
        registry = worker_functions.Registry()
        for function in functions:
            registry.add_indexed_function(function, protos=PROTOS)
    except Exception as error:  # FunctionLoadError and whatever else stops the worker
        raise IndexingError(f"the Python worker refuses the app: {error}") from error
    return functions


def describe_indexer() -> str:
    if worker_indexer_available():
        from azure_functions_runtime.version import VERSION

        return f"the Python worker's indexer (azure-functions-runtime {VERSION})"
    return "azure-functions' converters (the worker's indexer needs Python >= 3.13)"


def _function_app(module: types.ModuleType) -> func.FunctionApp:
    apps = [v for v in vars(module).values() if isinstance(v, func.FunctionRegister)]
    if len(apps) != 1:
        raise IndexingError(f"{module.__file__}: expected one FunctionApp, found {len(apps)}")
    return apps[0]  # type: ignore[return-value]


def _check_trigger_annotation(function: Any) -> None:
    trigger = function.get_trigger()
    name = function.get_function_name()
    converter = func.get_binding_registry().get(trigger.type)  # type: ignore[attr-defined]
    annotation = typing.get_type_hints(function.get_user_function()).get(trigger.name)
    if converter is None or annotation is None:
        return
    try:
        accepted = converter.check_input_type_annotation(annotation)
    except TypeError:  # issubclass() of a generic alias: not a type the worker takes either
        accepted = False
    if not accepted:
        raise IndexingError(
            f"cannot load the {name} function: {converter.__name__} does not accept the "
            f"annotation {annotation!r} of binding {trigger.name} (the worker refuses it too)"
        )
