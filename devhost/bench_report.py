"""What one bench run measured, how it is printed, and the two readings it is made of: the
hosts' /admin/devhost/stats (an older host may lack some counters, or the route: shown n/a) and
the terminal saga events tailed from the store."""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from adapters.sqlite_database import SqliteDatabase
from devhost.client import Client

TERMINAL_EVENTS = ("SagaCompleted", "SagaCompensated")
NOT_STORE_OPERATIONS = ("commits", "rollbacks", "invocations")


@dataclass
class Result:
    title: str
    sagas: int
    elapsed: float  # first create to last terminal event, s
    approved_after: float
    latencies_ms: list[float]
    per_saga: dict[str, float]
    window: tuple[float, float] = (0.0, 0.0)  # when the stats were read before and after
    fsyncs: int | None = None  # real calls counted by strace in the window
    peak_rss_kib: list[int | None] = field(default_factory=list)
    cpu_ms_per_saga: float | None = None  # the host processes' user + system CPU, all threads
    problems: list[str] = field(default_factory=list)
    tally: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def throughput(self) -> float:
        return self.sagas / self.elapsed if self.elapsed > 0 else float("nan")

    def percentile(self, p: int) -> float:
        if len(self.latencies_ms) < 2:
            return self.latencies_ms[0] if self.latencies_ms else float("nan")
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[p - 1]

    @classmethod
    def of(
        cls,
        args: argparse.Namespace,
        hosts: int,
        started: float,
        approved_at: dict[str, float],
        ended_at: dict[str, float],
        before: list[dict[str, Any]],
        after: list[dict[str, Any]],
    ) -> Result:
        title = (
            f"{len(approved_at)} sagas ({args.workload}, seed {args.seed}), concurrency"
            f" {args.concurrency}, rate {args.rate or 'unbounded'}, {hosts} host process(es)"
            f"{' (one HTTP, one triggers)' if args.split else ''}, synchronous=FULL"
        )
        latencies = sorted(
            (ended_at[q] - approved_at[q]) * 1000 for q in approved_at if q in ended_at
        )
        return cls(
            title=title,
            sagas=len(approved_at),
            elapsed=max(ended_at.values()) - started if ended_at else float("nan"),
            approved_after=max(approved_at.values(), default=started) - started,
            latencies_ms=latencies,
            per_saga=per_saga(before, after, len(approved_at)),
        )


def print_result(r: Result, label: str = "") -> None:
    print(f"\nbench{f' [{label}]' if label else ''}: {r.title}")
    print(
        f"  throughput  {r.throughput:8.1f} sagas/s ({r.elapsed:.2f} s first create to last"
        f" end; all approved after {r.approved_after:.2f} s)"
    )
    print(
        f"  approval->terminal  p50 {r.percentile(50):7.1f} ms  p95 {r.percentile(95):7.1f} ms"
        f"  p99 {r.percentile(99):7.1f} ms  max {max(r.latencies_ms, default=float('nan')):7.1f}"
        " ms"
    )
    ops = r.per_saga
    print(
        f"  per saga    invocations {_value(ops, 'invocations')}  commits {_value(ops, 'commits')}"
        f"  fsyncs {fsync_text(r)}"
    )
    store = "  ".join(
        f"{k} {v:.1f}" for k, v in sorted(ops.items()) if k not in NOT_STORE_OPERATIONS
    )
    print(f"              store operations: {store or 'n/a (the host does not count them)'}")
    rss = ", ".join("n/a" if k is None else f"{k / 1024:.0f} MiB" for k in r.peak_rss_kib)
    print(f"  peak RSS    {rss} (VmHWM of each host process)")
    if r.cpu_ms_per_saga is not None:
        print(
            f"  CPU         {r.cpu_ms_per_saga:.2f} ms per saga (user + system time of the hosts"
            " and their SQLite writer processes)"
        )
    if r.ok:
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(r.tally.items()))
        print(f"  verified    every outcome: {r.sagas} sagas ({kinds}) and every customer's count")
    else:
        print(f"  VERIFY FAILED: {len(r.problems)} problem(s)")
        for problem in r.problems[:20]:
            print(f"    {problem}")


def fsync_text(r: Result) -> str:
    if r.fsyncs is not None:
        return f"{r.fsyncs / r.sagas:.1f} (counted: fsync+fdatasync calls under strace)"
    if "commits" not in r.per_saga:
        return "n/a (no commit counter; --strace counts them)"
    return (
        f"~{r.per_saga['commits']:.1f} (derived, not counted: one WAL sync per commit under"
        " synchronous=FULL, checkpoints' syncs left out; --strace counts the real calls)"
    )


def _value(ops: dict[str, float], key: str) -> str:
    return f"{ops[key]:.1f}" if key in ops else "n/a"


def stats(client: Client) -> dict[str, Any]:
    status, body = client.request("GET", "/admin/devhost/stats", patience=10)
    return body if status == 200 and isinstance(body, dict) else {}


def per_saga(before: list[dict[str, Any]], after: list[dict[str, Any]], n: int) -> dict[str, float]:
    totals: dict[str, float] = {}
    for b, a in zip(before, after, strict=True):
        for key, value in a.get("store", {}).items():
            totals[key] = totals.get(key, 0) + value - b.get("store", {}).get(key, 0)
        for key, value in a.get("invocations", {}).items():
            name = "invocations"
            totals[name] = totals.get(name, 0) + value - b.get("invocations", {}).get(key, 0)
    return {k: v / n for k, v in totals.items()} if n else {}


def watch(data_dir: Path, n: int, ended_at: dict[str, float]) -> None:
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
