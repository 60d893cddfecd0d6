"""The app as the Python worker indexes it: with the worker's own code where it is installed
(azure-functions-runtime, Python >= 3.13, run by the compat tier), else the library's
converters. One function the worker refuses stops the whole app from loading in Azure."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from devhost.indexing import worker_indexer_available

pytestmark = pytest.mark.functions

REPO = Path(__file__).resolve().parents[2]
needs_worker = pytest.mark.skipif(
    not worker_indexer_available() and not os.environ.get("REQUIRE_WORKER_INDEXER"),
    reason="azure-functions-runtime (the worker's indexer) needs Python >= 3.13: "
    "scripts/compat.sh runs this on 3.13 with REQUIRE_WORKER_INDEXER=1",
)


def index(app_dir: Path) -> subprocess.CompletedProcess[str]:
    """`python -m devhost index` in a fresh interpreter, as the worker imports the app."""
    return subprocess.run(
        [sys.executable, "-m", "devhost", "index", "--app-dir", str(app_dir)],
        cwd=app_dir,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@needs_worker
def test_the_worker_indexes_every_function_of_the_app(functions):
    done = index(REPO)
    assert done.returncode == 0, done.stderr
    assert "the Python worker's indexer" in done.stdout
    for name in functions:
        assert f"  {name}: " in done.stdout


def broken_app(tmp_path: Path, annotation: str) -> Path:
    (tmp_path / "function_app.py").write_text(
        textwrap.dedent(f"""
            import typing
            import azure.functions as func

            app = func.FunctionApp()

            @app.event_hub_message_trigger(
                arg_name="events", connection="Hubs", event_hub_name="hub",
                cardinality=func.Cardinality.MANY,
            )
            def handle(events: {annotation}) -> None:
                pass
        """)
    )
    return tmp_path


@needs_worker
def test_the_worker_refuses_a_pep_585_list_of_events_with_its_own_message(tmp_path):
    done = index(broken_app(tmp_path, "list[func.EventHubEvent]"))
    assert done.returncode == 1
    assert "the Python worker refuses the app" in done.stderr
    assert "binding events has invalid non-type annotation" in done.stderr


def test_the_local_host_refuses_a_pep_585_list_of_events_on_any_python(tmp_path):
    done = index(broken_app(tmp_path, "list[func.EventHubEvent]"))
    assert done.returncode == 1
    assert "cannot load the handle function" in done.stderr


def test_a_typing_list_of_events_is_accepted(tmp_path):
    done = index(broken_app(tmp_path, "typing.List[func.EventHubEvent]"))
    assert done.returncode == 0, done.stderr
