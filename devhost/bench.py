"""`python -m devhost bench [--workload mixed|easy] --sagas N [--concurrency C] [--rate R]
[--hosts H | --split] [--strace] [--compare REV --runs K]`: drive N sagas over HTTP against host
processes on a fresh data directory; report sagas/s, approval-to-terminal latency percentiles,
commits, fsyncs, store operations and invocations per saga, and peak RSS; then verify every
saga's outcome and every customer's policy count (devhost/bench_workload.py), exit 1 if wrong.

The end of a saga is read from the store (its terminal saga event's timestamp, written by the
host), so that watching does not load the HTTP API; verification over HTTP is untimed.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from devhost.bench_hosts import HostProcess, cpu_seconds, start_host, stop_host
from devhost.bench_report import Result, print_result, stats, watch
from devhost.bench_verify import check
from devhost.bench_workload import Limits, workload

TREE = Path(__file__).resolve().parents[1]


def run_bench(args: argparse.Namespace) -> int:
    # A SIGTERM (a CI job's timeout, `kill`) stops the bench as Ctrl-C does: the sagas not yet
    # begun are dropped and the hosts it started are stopped, instead of being left running.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        if args.compare:
            from devhost.bench_compare import run_compare

            return run_compare(args)
        result = run_once(args, TREE)
    except KeyboardInterrupt:
        print("bench: interrupted; the hosts it started are stopped", file=sys.stderr)
        return 130
    print_result(result)
    return 0 if result.ok else 1


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_once(args: argparse.Namespace, tree: Path) -> Result:
    """One bench run of the hosts of `tree` (the working tree or an older checkout)."""
    with tempfile.TemporaryDirectory(prefix="devhost-bench-") as scratch:
        data_dir = Path(args.data_dir or scratch)
        data_dir.mkdir(parents=True, exist_ok=True)
        roles = ["http", "triggers"] if args.split else ["all"] * args.hosts
        hosts: list[HostProcess] = []
        try:
            for n, role in enumerate(roles):
                hosts.append(start_host(tree, data_dir, n, role, args.strace, len(roles)))
            result = _drive(args, data_dir, hosts)
        finally:
            for host in hosts:
                stop_host(host)
        result.peak_rss_kib = [h.peak_rss_kib for h in hosts]
        if args.strace:
            result.fsyncs = sum(
                result.window[0] <= at <= result.window[1] for h in hosts for at in h.fsync_times
            )
        return result


def _drive(args: argparse.Namespace, data_dir: Path, hosts: list[HostProcess]) -> Result:
    limits = Limits.deployed()
    if args.expect_max_policies is not None:  # a test hook: a wrong expectation must be caught
        expected = Limits(limits.premium, args.expect_max_policies)
    else:
        expected = limits
    run = f"{time.time_ns() % 10**8:08d}"
    sagas = workload(args.workload, args.sagas, run, args.seed, limits)
    every = [h.client for h in hosts]
    clients = every[:1] if args.split else every
    approved_at: dict[str, float] = {}
    ended_at: dict[str, float] = {}
    before = [stats(c) for c in every]
    cpu_before = [cpu_seconds(h.pid) for h in hosts]
    window_start = time.time()
    watcher = threading.Thread(target=watch, args=(data_dir, len(sagas), ended_at), daemon=True)
    watcher.start()
    started, interrupted = time.time(), threading.Event()

    def saga(i: int) -> None:
        due = started + i / args.rate - time.time() if args.rate else 0.0
        if interrupted.wait(max(0.0, due)):
            return  # not begun: the bench was interrupted
        client, s = clients[i % len(clients)], sagas[i]
        client.create_quote(s.customer_id, s.premium, s.quote_id, patience=10)
        approved_at[s.quote_id] = time.time()
        client.approve(s.quote_id, patience=10)

    with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        futures = [pool.submit(saga, i) for i in range(len(sagas))]
        try:
            while not all(f.done() for f in futures):
                time.sleep(1.0)
                print(f"  {time.time() - started:5.1f} s: approved {len(approved_at)}/{len(sagas)},"
                      f" ended {len(ended_at)}", file=sys.stderr)  # fmt: skip
        except BaseException:
            interrupted.set()  # a saga under way still ends; one waiting for its turn does not
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        for future in futures:
            future.result()
    watcher.join(timeout=120)
    after = [stats(c) for c in every]
    cpu_after = [cpu_seconds(h.pid) for h in hosts]
    result = Result.of(args, len(every), started, approved_at, dict(ended_at), before, after)
    if None not in cpu_before and None not in cpu_after and result.sagas:
        used = sum(a - b for a, b in zip(cpu_after, cpu_before, strict=True))  # type: ignore[operator]
        result.cpu_ms_per_saga = used * 1000 / result.sagas
    result.window = (window_start, time.time())
    result.problems, result.tally = check(sagas, clients[0], expected)
    return result
