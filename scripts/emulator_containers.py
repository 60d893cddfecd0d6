"""Create the database and containers in the Cosmos DB emulator named by local.settings.json
(Bicep creates them in Azure). Run once the emulator answers (vNext in seconds, the classic
one after a minute or more: docs/deploy.md), before `func start`:

    python scripts/emulator_containers.py [path/to/local.settings.json]
"""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.cosmos_account import stores_from_settings  # noqa: E402
from bootstrap import COSMOS_CONNECTION, Settings  # noqa: E402


def main(settings_file: Path) -> None:
    values = json.loads(settings_file.read_text())["Values"]
    settings = Settings({**values, "COSMOS_ENSURE_CONTAINERS": "true"})
    stores_from_settings(settings.get, COSMOS_CONNECTION)
    print(f"containers ready in database {settings['COSMOS_DATABASE']!r}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "local.settings.json")
