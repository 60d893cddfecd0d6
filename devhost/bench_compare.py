"""`bench --compare REV [--runs K]`: interleaved runs (REV, working tree, REV, ...) on this
machine, so that load from elsewhere falls on both sides alike. REV is checked out with
`git worktree add --detach` into a temporary directory, and its hosts run from there with this
interpreter; this driver gives both sides the same workload and the same verification."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from devhost.bench import TREE, run_once
from devhost.bench_report import Result, print_result


def run_compare(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="devhost-bench-rev-") as scratch:
        old = Path(scratch) / "tree"
        git = ["git", "-C", str(TREE)]
        subprocess.run([*git, "worktree", "add", "--detach", str(old), args.compare], check=True)
        try:
            results = _interleave(args, {args.compare: old, "working tree": TREE})
        finally:
            subprocess.run([*git, "worktree", "remove", "--force", str(old)], check=False)
    _print_medians(results)
    return 0 if all(r.ok for side in results.values() for r in side) else 1


def _interleave(args: argparse.Namespace, trees: dict[str, Path]) -> dict[str, list[Result]]:
    results: dict[str, list[Result]] = {label: [] for label in trees}
    rev_args = argparse.Namespace(**vars(args))
    if args.rev_hosts is not None:
        rev_args.hosts = args.rev_hosts
    for run in range(args.runs):
        for label, tree in trees.items():
            result = run_once(rev_args if tree != TREE else args, tree)
            results[label].append(result)
            print_result(result, f"{label}, run {run + 1}/{args.runs}")
    return results


def _print_medians(results: dict[str, list[Result]]) -> None:
    print("\nmedians of the runs:")
    columns: dict[str, Callable[[Result], float | None]] = {
        "sagas/s": lambda r: r.throughput,
        "p50 ms": lambda r: r.percentile(50),
        "p95 ms": lambda r: r.percentile(95),
        "commits": lambda r: r.per_saga.get("commits"),
        "fsyncs": lambda r: None if r.fsyncs is None else r.fsyncs / r.sagas,
        "writes": lambda r: r.per_saga.get("writes"),
        "RSS MiB": lambda r: sum(k or 0 for k in r.peak_rss_kib) / 1024 or None,
        "CPU ms": lambda r: r.cpu_ms_per_saga,
    }
    print(f"  {'':14}" + "".join(f"{name:>10}" for name in columns))
    for label, side in results.items():
        cells = [_median([get(r) for r in side]) for get in columns.values()]
        print(f"  {label[:14]:14}" + "".join(f"{c:>10}" for c in cells))
        print(f"  {'':14}  runs: " + ", ".join(f"{r.throughput:.1f}" for r in side) + " sagas/s")
        if not all(r.ok for r in side):
            print(f"  {'':14}  VERIFY FAILED in {sum(not r.ok for r in side)} run(s)")
    old, new = results.values()
    for name in ("sagas/s", "p50 ms", "CPU ms"):
        get = columns[name]
        ratios = pair_ratios([get(r) for r in old], [get(r) for r in new])
        if ratios:
            print(f"  working tree / {next(iter(results))[:14]}, {name}, run by run: "
                  + ", ".join(f"{q:.2f}" for q in ratios)
                  + f"; median {statistics.median(ratios):.2f}")  # fmt: skip


def pair_ratios(old: list[float | None], new: list[float | None]) -> list[float]:
    """new / old of each interleaved pair (run k of each side, run one after the other), where
    both are known: a pair shares the machine's state of that minute, so its ratio varies less
    than either side's figures do from minute to minute."""
    return [n / o for o, n in zip(old, new, strict=True) if o and n is not None]


def _median(values: list[float | None]) -> str:
    known = [v for v in values if v is not None]
    return f"{statistics.median(known):.1f}" if known else "n/a"
