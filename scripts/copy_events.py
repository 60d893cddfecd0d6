"""Copy an events container of the old layout into keyed events and sagas containers
(docs/cosmos.md, 'Receipts folded into the events: existing data'). The logic and its tests:
adapters/cosmos_copy.py, tests/integration/test_cosmos_copy.py.

    python scripts/copy_events.py --source events --events-target events2 \\
        --sagas-target sagas2 [--settings local.settings.json] [--dry-run] [--create-targets]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.cosmos_account import create_cosmos_client  # noqa: E402
from adapters.cosmos_copy import PAGE_SIZE, CopyConflict, copy_events, open_targets  # noqa: E402
from bootstrap import COSMOS_CONNECTION, Settings  # noqa: E402

PROCEDURE = """\
procedure:
  1. Stop the app (az functionapp stop), or at least its orchestrator and command handlers:
     a document written to the source during the copy stops it (nothing is lost, run it again).
  2. python scripts/copy_events.py --source OLD --events-target NEW --sagas-target NEWSAGAS
     --dry-run    prints what it would copy, per kind; writes nothing, creates nothing.
  3. The same without --dry-run: copies, then verifies every source document is in a target
     with its key and both targets have the /commandKey unique key. Exit 0 only if verified.
     Run it again as often as needed (after a crash too): what is there already is kept.
     The targets must exist (Bicep, with the policies of infra/cosmos/containers.json), or
     pass --create-targets (creates them from containers.json; needs a key or a control-plane
     role: the app's data-plane role cannot create containers).
  4. Point EVENTS_CONTAINER and SAGAS_CONTAINER at the targets (in Azure: appNames in
     infra/bicep/main.bicep, which are both the app settings and the containers Bicep
     deploys), then start the app. Keep OLD until satisfied; the app never reads it again.
  The orchestrator's change-feed trigger keeps one lease per partition of the container it
  watches (its lease ids carry the container's resource id), so on the new events container it
  starts with no lease and, as it is configured (start_from_beginning=True,
  triggers/orchestrator.py), reads every copied domain event once more. That replay is
  idempotent but not free: see docs/cosmos.md for what it costs and how to avoid it.
"""


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] = os.environ) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args, environ)
    except (ValueError, CopyConflict) as error:  # PlanError is one
        print(f"copy_events: {error}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    values = dict(environ)
    if args.settings:  # a local.settings.json's Values win over the environment
        values.update(json.loads(Path(args.settings).read_text())["Values"])
    settings = Settings(values)
    client = create_cosmos_client(settings.get, COSMOS_CONNECTION)
    database = settings["COSMOS_DATABASE"]
    names = {
        logical: settings[f"{logical.upper()}_CONTAINER"]
        for logical in ("events", "sagas", "leases", "views", "deadletters")
    }
    names.update(events=args.events_target, sagas=args.sagas_target)
    source = client.get_database_client(database).get_container_client(args.source)
    if args.dry_run:  # creates nothing: the targets are only named
        db = client.get_database_client(database)
        targets = {n: db.get_container_client(names[n]) for n in ("events", "sagas")}
    else:
        targets = open_targets(client, database, names, create=args.create_targets)
    report = copy_events(source, targets, dry_run=args.dry_run, page_size=args.page_size)
    return 0 if args.dry_run or report.verified else 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=(
            "Copy an old-layout Cosmos DB events container (receipt documents, saga streams "
            "mixed in, no unique key) into events and sagas containers with the /commandKey "
            "unique key, giving every event the commandKey CosmosEventStore.append writes. "
            "Connection as the app's: CosmosDb__accountEndpoint (managed identity, "
            "DefaultAzureCredential) or CosmosDb (connection string), and COSMOS_DATABASE, from "
            "the environment or --settings."
        ),
        epilog=PROCEDURE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--source", required=True, help="the old events container")
    parser.add_argument("--events-target", required=True, help="the new EVENTS_CONTAINER")
    parser.add_argument("--sagas-target", required=True, help="the new SAGAS_CONTAINER")
    parser.add_argument("--settings", help="a local.settings.json (its Values are read)")
    parser.add_argument("--dry-run", action="store_true", help="count, write nothing")
    parser.add_argument(
        "--create-targets",
        action="store_true",
        help="create missing targets from infra/cosmos/containers.json (else they must exist)",
    )
    parser.add_argument("--page-size", type=int, default=PAGE_SIZE, help="documents per read")
    return parser


if __name__ == "__main__":
    sys.exit(main())
