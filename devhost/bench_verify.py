"""After a bench run (untimed): every saga's outcome and every customer's policy count read over
HTTP, as a user would, and held to the workload's expectations (devhost/bench_workload.py)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from devhost.bench_workload import Limits, Outcome, Saga, verify
from devhost.client import TERMINAL, Client

ENDS = ("SagaCompleted", "SagaCompensated")
SETTLE_SECONDS = 30.0  # a view may trail its saga's terminal event: wait for it this long


def check(sagas: list[Saga], client: Client, limits: Limits) -> tuple[list[str], Counter[str]]:
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = dict(
            zip((s.quote_id for s in sagas), pool.map(_outcome(client), sagas), strict=True)
        )
        customers = sorted({s.customer_id for s in sagas})
        counts = dict(zip(customers, pool.map(_count(client), customers), strict=True))
    problems = [f"customer {c}: {n}" for c, n in counts.items() if isinstance(n, str)]
    numbers = {c: n for c, n in counts.items() if isinstance(n, int)}
    found, tally = verify(sagas, outcomes, numbers, limits)
    return problems + found, tally


def _outcome(client: Client) -> Callable[[Saga], Outcome]:
    def read(saga: Saga) -> Outcome:
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            view = client.quote(saga.quote_id, patience=10)
            status = ((view or {}).get("saga") or {}).get("status")
            # The API shows a saga's reason only in its timeline: the terminal entry's.
            ends = [e for e in (view or {}).get("timeline", ()) if e["eventType"] in ENDS]
            if (status in TERMINAL and ends) or time.monotonic() >= deadline:
                return Outcome(status, ends[-1].get("reason") if ends else None)
            time.sleep(0.2)

    return read


def _count(client: Client) -> Callable[[str], int | str]:
    def read(customer_id: str) -> int | str:
        status, body = client.request("GET", f"/api/customers/{customer_id}", patience=10)
        if status == 404:
            return 0  # no policy was ever counted for this customer
        if status != 200 or not isinstance(body, dict):
            return f"GET /api/customers/{customer_id} answered {status} {body}"
        return int(body.get("policyCount", -1))

    return read
