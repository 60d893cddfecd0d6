"""`python -m devhost bench --sagas N [--concurrency C] [--rate R] [--hosts H]`: drive N
sagas over HTTP against host processes on a fresh data directory, and report sagas/s,
approval-to-terminal latency percentiles, and store operations per saga.

The end of a saga is read from the store (its terminal saga event's timestamp, written by the
host), so that watching does not load the HTTP API; every saga is then checked over HTTP too.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from adapters.sqlite_database import SqliteDatabase
from devhost.client import Client, free_port

TERMINAL_EVENTS = ("SagaCompleted", "SagaCompensated")


def run_bench(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="devhost-bench-") as scratch:
        data_dir = args.data_dir or Path(scratch)
        if args.split:
            hosts = [_start_host(data_dir, 0, "http"), _start_host(data_dir, 1, "triggers")]
        else:
            hosts = [_start_host(data_dir, n) for n in range(args.hosts)]
        try:
            clients = [client for _, client in hosts]
            return _bench(args, data_dir, clients[:1] if args.split else clients, clients)
        finally:
            for process, _ in hosts:
                process.terminate()
                process.wait(timeout=60)


def _start_host(
    data_dir: Path, n: int, role: str = "all"
) -> tuple[subprocess.Popen[bytes], Client]:
    port = free_port()
    log = (data_dir / f"bench-host{n}.log").open("ab")
    command = [sys.executable, "-m", "devhost", "--data-dir", str(data_dir), "--port", str(port)]
    command += ["--role", role, "--log-level", "WARNING"]
    process = subprocess.Popen(command, stdout=log, stderr=log)
    log.close()
    client = Client(f"http://127.0.0.1:{port}", timeout=60)
    client.wait_until_ready(timeout=60)
    return process, client


def _bench(
    args: argparse.Namespace, data_dir: Path, clients: list[Client], every: list[Client]
) -> int:
    n, run = args.sagas, f"{time.time_ns() % 10**8:08d}"
    approved_at: dict[str, float] = {}
    ended_at: dict[str, float] = {}
    before = [_stats(c) for c in every]
    watcher = threading.Thread(target=_watch, args=(data_dir, n, ended_at), daemon=True)
    watcher.start()
    started = time.time()

    def saga(i: int) -> None:
        if args.rate:
            time.sleep(max(0.0, started + i / args.rate - time.time()))
        client, quote_id = clients[i % len(clients)], f"B{run}-{i}"
        client.create_quote(f"C{run}-{i}", Decimal(100 + i % 1000), quote_id, patience=10)
        approved_at[quote_id] = time.time()
        client.approve(quote_id, patience=10)

    with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        futures = [pool.submit(saga, i) for i in range(n)]
        while not all(f.done() for f in futures):
            time.sleep(1.0)
            print(f"  {time.time() - started:5.1f} s: approved {len(approved_at)}/{n},"
                  f" ended {len(ended_at)}", file=sys.stderr)  # fmt: skip
        for future in futures:
            future.result()
    watcher.join(timeout=120)
    sent_done = max(approved_at.values())
    elapsed = max(ended_at.values()) - started if ended_at else float("nan")
    after = [_stats(c) for c in every]
    latencies = sorted((ended_at[q] - approved_at[q]) * 1000 for q in approved_at if q in ended_at)
    unfinished = [q for q in approved_at if q not in ended_at]
    sample = list(approved_at)[:: max(1, n // 200)]
    wrong = [q for q in sample if clients[0].saga_status(q) != "Completed"]
    ops = _per_saga(before, after, n)
    print(
        f"\nbench: {n} sagas, concurrency {args.concurrency}, rate "
        f"{args.rate or 'unbounded'}, {len(every)} host process(es)"
        f"{' (one HTTP, one triggers)' if args.split else ''}, synchronous=FULL"
    )
    print(
        f"  throughput  {n / elapsed:8.1f} sagas/s ({elapsed:.2f} s first create to last end;"
        f" all approved after {sent_done - started:.2f} s)"
    )
    if latencies:
        q = statistics.quantiles(latencies, n=100, method="inclusive")
        print(
            f"  approval->terminal  p50 {q[49]:7.1f} ms  p95 {q[94]:7.1f} ms"
            f"  p99 {q[98]:7.1f} ms  max {latencies[-1]:7.1f} ms"
        )
    print("  per saga    " + "  ".join(f"{k} {v:.1f}" for k, v in sorted(ops.items())))
    if unfinished or wrong:
        print(f"  NOT ENDED: {len(unfinished)}; not Completed over HTTP: {wrong[:5]}")
        return 1
    return 0


def _watch(data_dir: Path, n: int, ended_at: dict[str, float]) -> None:
    """Tail the store for terminal saga events until n sagas ended (or a minute of quiet)."""
    database = SqliteDatabase(data_dir / "store.db")
    conn, position, quiet_since = database.connection(), 0, time.time()
    while len(ended_at) < n and time.time() - quiet_since < 60:
        rows = conn.execute(
            "SELECT position, stream_id, event_type, document FROM events WHERE position > ?"
            " ORDER BY position LIMIT 5000",
            (position,),
        ).fetchall()
        if rows:
            position, quiet_since = rows[-1][0], time.time()
        for _, stream, event_type, document in rows:
            if event_type in TERMINAL_EVENTS:
                at = datetime.fromisoformat(json.loads(document)["timestamp"]).timestamp()
                ended_at.setdefault(stream.removeprefix("saga-"), at)
        time.sleep(0.05)
    database.close()


def _stats(client: Client) -> dict[str, Any]:
    status, body = client.request("GET", "/admin/devhost/stats", patience=10)
    return body if status == 200 else {}


def _per_saga(
    before: list[dict[str, Any]], after: list[dict[str, Any]], n: int
) -> dict[str, float]:
    totals: dict[str, float] = {}
    for b, a in zip(before, after, strict=True):
        for key, value in a.get("store", {}).items():
            totals[key] = totals.get(key, 0) + value - b.get("store", {}).get(key, 0)
        for key, value in a.get("invocations", {}).items():
            name = "invocations"
            totals[name] = totals.get(name, 0) + value - b.get("invocations", {}).get(key, 0)
    return {k: v / n for k, v in totals.items()}
