"""The bench's own options (the shared ones, --sagas, --concurrency, --rate, --hosts, --split,
are in devhost/__main__.py)."""

from __future__ import annotations

import argparse

WORKLOADS = ("mixed", "easy")  # described in devhost/bench_workload.py


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workload", default="mixed", choices=WORKLOADS, help="bench: mixed (default) or easy"
    )
    parser.add_argument("--seed", type=int, default=14, help="bench: the mixed shuffle's seed")
    parser.add_argument(
        "--strace", action="store_true", help="bench: count real fsync calls with strace"
    )
    parser.add_argument(
        "--compare",
        metavar="REV",
        default=None,
        help="bench: interleaved runs of REV's hosts and the working tree's",
    )
    parser.add_argument("--runs", type=int, default=3, help="bench --compare: runs per side")
    parser.add_argument(
        "--rev-hosts",
        type=int,
        default=None,
        help="bench --compare: REV's host processes (default: as --hosts; 1 runs REV as its"
        " `python -m devhost` did before worker processes)",
    )
    # A test hook: verify against this policy limit instead of the deployed one (must fail).
    parser.add_argument("--expect-max-policies", type=int, default=None, help=argparse.SUPPRESS)
