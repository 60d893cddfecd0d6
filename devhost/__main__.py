"""`python -m devhost [serve|demo|bench|cost|index|sagas|show|wiring]`: serve the app locally (the
default), run the three-outcome demo, measure throughput and latency, count what a saga costs in
Cosmos DB (devhost/cost.py), index the app as the Python
worker does (exit 1 with the worker's message if it would not load), list the sagas, show one
saga's timeline (devhost/cli.py), or check (--write: regenerate) the deployment files derived from
the registry of aggregates (devhost/wiring.py)."""

from __future__ import annotations

import argparse
import gc
import signal
import sys
import threading
from pathlib import Path

from devhost import log_format


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__)
    parser.add_argument(
        "command",
        nargs="?",
        default="serve",
        choices=["serve", "demo", "bench", "cost", "index", "sagas", "show", "wiring"],
    )
    parser.add_argument("--app-dir", type=Path, default=None, help="index: default the repo")
    parser.add_argument("--data-dir", type=Path, default=None, help="default .devhost/")
    parser.add_argument("--port", type=int, default=None, help="default 7071 (demo: free)")
    parser.add_argument("--lease-seconds", type=float, default=5.0)
    parser.add_argument("--reuse-port", action="store_true", help="share the port (SO_REUSEPORT)")
    parser.add_argument(
        "--role",
        default="all",
        choices=["all", "http", "triggers"],
        help="run every function (default), only the HTTP ones, or all but HTTP",
    )
    parser.add_argument(
        "--log-level", default=None, help="log level (default INFO; demo, bench: WARNING)"
    )
    parser.add_argument(
        "--app-log-level",
        default=None,
        help="the app's `quoting` logs (default: as --log-level, per-request lines WARNING)",
    )
    parser.add_argument(
        "--sagas", type=int, default=None, help="bench: sagas to run (2000); cost: per outcome (50)"
    )
    parser.add_argument(
        "--feed",
        default="each",
        choices=["each", "poll"],
        help="cost: one change-feed document per orchestrator invocation (default), or all new",
    )
    parser.add_argument(
        "--ids",
        default="short",
        choices=["short", "uuid"],
        help="cost: quote and customer ids like QDONE000001 (default) or as long as a uuid",
    )
    parser.add_argument("--concurrency", type=int, default=32, help="bench: HTTP clients")
    parser.add_argument("--rate", type=float, default=None, help="bench: sagas/s (open loop)")
    parser.add_argument(
        "--hosts",
        type=int,
        default=None,
        help="bench: host processes (default: as many as `serve` runs workers, DEVHOST_PROCESSES)",
    )
    parser.add_argument(
        "--split", action="store_true", help="bench: one HTTP host and one trigger host"
    )
    parser.add_argument("--write", action="store_true", help="wiring: regenerate the files")
    from devhost import bench_args, cli

    bench_args.add_arguments(parser)
    cli.add_arguments(parser)
    args = parser.parse_args(argv)
    default_level = "INFO" if args.command in ("serve", "index") else "WARNING"
    log_format.configure(args.log_level or default_level, args.app_log_level)
    if args.command == "demo":
        from devhost.demo import run_demo

        return run_demo(args.data_dir, args.port)
    if args.command == "cost":
        from devhost.cost import run_cost

        return run_cost(50 if args.sagas is None else args.sagas, args.feed, args.ids)
    if args.command == "bench":
        from devhost.bench import run_bench
        from devhost.workers import worker_processes

        if args.sagas is None:
            args.sagas = 2000
        if args.hosts is None:
            args.hosts = worker_processes()

        return run_bench(args)
    if args.command == "index":
        return index(args.app_dir)
    if args.command == "wiring":
        from devhost.wiring import run

        return run(args.write)
    if args.command in ("sagas", "show"):
        return cli.run(args)
    return serve(args, sys.argv[1:] if argv is None else argv)


def index(app_dir: Path | None) -> int:
    from devhost.host import APP_DIR
    from devhost.indexing import IndexingError, describe_indexer
    from devhost.indexing import index as index_app

    try:
        functions = index_app((app_dir or APP_DIR).resolve())
    except IndexingError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"{len(functions)} functions indexed by {describe_indexer()}:")
    for function in functions:
        print(f"  {function.get_function_name()}: {function.get_trigger().type}")
    return 0


def serve(args: argparse.Namespace, argv: list[str]) -> int:
    from devhost.host import Host, HostOptions
    from devhost.workers import inherited_socket, report_started, supervise, worker_processes

    port = 7071 if args.port is None else args.port
    processes = worker_processes()
    if processes > 1:
        return supervise(argv, "127.0.0.1", port, processes)
    listener = inherited_socket()  # a worker of a supervisor serves on its socket
    host = Host(
        HostOptions(
            data_dir=args.data_dir or Path(".devhost"),
            port=port,
            lease_seconds=args.lease_seconds,
            reuse_port=args.reuse_port,
            role=args.role,
            listener=listener,
        )
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    host.start()
    tune_the_interpreter()
    report_started()
    if listener is None:
        print(f"devhost listening on http://127.0.0.1:{host.port}/api", flush=True)
    while not stop.wait(0.5):
        pass
    host.stop()
    return 0


# A started host holds ~55,000 objects it keeps for good (modules, the indexed app, pydantic's
# schemas). At Python's default thresholds (700, 10, 10) it collected its young objects every
# ~4 sagas and every object every few hundred sagas, each full collection walking all of them for
# ~40 ms; perf put ~5 % of the machine's samples in the collector under `bench`.
GC_THRESHOLDS = (10_000, 20, 20)
# How long a thread may hold the GIL while another waits for it (Python's default: 5 ms). A host
# runs ~25 threads (HTTP workers, pumps, timers); at the default, a busy one was made to hand the
# GIL over mid-step, each hand-over a futex wake-up and a cold cache. Interleaved `bench` pairs
# against 5 ms: 20 ms, 5 pairs twice, 211.8 -> 240.7 and 273.9 -> 297.3 sagas/s; 10 ms (as
# fast as 20 in 5 pairs), 10 pairs: CPU per saga 0.95x pair by pair (6.5 -> 6.3 ms), sagas/s
# 1.01x (219.1 -> 223.9: a small gain, inside the machine's minute-to-minute noise). p50
# approval -> end at 10 sagas/s the same within its noise (11.2-11.6 vs 11.5-11.8 ms).
SWITCH_INTERVAL_SECONDS = 0.01


def tune_the_interpreter() -> None:
    """Once the host has started: take what it has loaded out of every collection for good
    (gc.freeze), collect young objects less often (a saga leaves almost no cycles), and let a
    thread keep the GIL longer before it must hand it over. Only the local host's process: in
    Azure the Functions Python worker keeps its own settings."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)


if __name__ == "__main__":
    sys.exit(main())
