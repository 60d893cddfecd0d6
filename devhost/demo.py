"""`python -m devhost demo`: the three saga outcomes over real HTTP against an in-process host
on a free port — a quote that completes, one over the underwriting limit, and one for a
customer who already holds the maximum of active policies — each with its timeline."""

from __future__ import annotations

import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

from devhost.client import Client
from devhost.host import Host, HostOptions
from devhost.timeline import timeline

OVER_LIMIT_PREMIUM = Decimal("2500000.00")  # above UNDERWRITING_PREMIUM_LIMIT (1,000,000)
MAX_ACTIVE_POLICIES = 5


def run_demo(data_dir: Path | None, port: int | None) -> int:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="devhost-demo-") as scratch:
        host = Host(HostOptions(data_dir=data_dir or Path(scratch), port=port or 0))
        host.start()
        try:
            print(f"local host on http://127.0.0.1:{host.port}/api, data in {host.database.path}")
            ok = _drive(Client(f"http://127.0.0.1:{host.port}"))
        finally:
            host.stop()
    print(f"\ndemo {'passed' if ok else 'FAILED'} in {time.perf_counter() - started:.1f} s")
    return 0 if ok else 1


def _drive(client: Client) -> bool:
    run = uuid.uuid4().hex[:6]
    full = f"C-{run}-full"
    print(f"\n1. customer {full} takes out {MAX_ACTIVE_POLICIES} policies first")
    for n in range(1, MAX_ACTIVE_POLICIES + 1):
        quote_id = f"Q-{run}-full-{n}"
        client.create_quote(full, Decimal(100 * n), quote_id)
        client.approve(quote_id)
        view = client.wait_until_terminal(quote_id)
        print(f"   {quote_id}: {view['saga']['status']}")
    cases = [
        ("a quote within every limit", f"C-{run}-happy", Decimal("1200.00"), "happy", "Completed"),
        ("a premium over the limit", f"C-{run}-big", OVER_LIMIT_PREMIUM, "big", "Compensated"),
        ("a sixth policy for the customer", full, Decimal("700.00"), "sixth", "Compensated"),
    ]
    print("\n2. three quotes approved at once:")
    for title, customer, premium, name, expected in cases:
        quote_id = f"Q-{run}-{name}"
        client.create_quote(customer, premium, quote_id)
        client.approve(quote_id)
        print(f"   {quote_id}: {title} (premium {premium:,.0f}), expecting {expected}")
    ok = True
    for title, _, _, name, expected in cases:
        quote_id = f"Q-{run}-{name}"
        try:
            view = client.wait_until_terminal(quote_id, timeout=20)
        except TimeoutError as error:
            print(f"\n{quote_id}: {error}")
            ok = False
            continue
        status = view["saga"]["status"]
        ok &= status == expected
        mark = "ok" if status == expected else f"UNEXPECTED, wanted {expected}"
        print(f"\n{quote_id} - {title}: {status} ({mark})")
        print(timeline(view["timeline"]))
    return ok
