"""scripts/emulator_containers.py prepares an empty account for `func start`."""

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

pytest_plugins = ["tests.support.cosmos_fixtures"]
pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_the_script_creates_every_container_the_app_and_its_trigger_need(
    tmp_path,
    cosmos,
    cosmos_client,
):
    database = f"test-script-{uuid.uuid4().hex[:8]}"
    sample = json.loads((ROOT / "local.settings.sample.json").read_text())
    sample["Values"] |= {"CosmosDb": cosmos.connection_string, "COSMOS_DATABASE": database}
    settings = tmp_path / "local.settings.json"
    settings.write_text(json.dumps(sample))
    try:
        subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "emulator_containers.py"), str(settings)],
            check=True,
            timeout=60,
        )
        names = {c["id"] for c in cosmos_client.get_database_client(database).list_containers()}
        assert names == {"events", "sagas", "leases", "views", "deadletters"}, names
    finally:
        cosmos_client.delete_database(database)
