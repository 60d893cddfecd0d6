"""`python -m devhost sagas` (a table of sagas) and `python -m devhost show QUOTE_ID` (one saga's
timeline, as the demo prints it), against a running host (`--url`, over the HTTP API) or its
data directory (`--data-dir`, reading the SQLite store through the same application services
the HTTP functions call). Both ways print the same thing: they get the same JSON."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote as url_quote
from urllib.parse import urlencode

from devhost.timeline import timeline

STATUSES = ("Running", "Compensating", "Completed", "Compensated")
COLUMNS = ("QUOTE", "CUSTOMER", "STATUS", "STEP", "STUCK", "STARTED", "REASON")


class CliError(Exception):
    """What the user is told on stderr (exit 1)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("quote_id", nargs="?", help="show: the quote whose saga to show")
    cli = parser.add_argument_group("sagas / show")
    cli.add_argument("--url", help="a running host, e.g. http://127.0.0.1:7071 (else --data-dir)")
    cli.add_argument("--key", help="--url: a function key (Azure: the master key)")
    cli.add_argument("--status", choices=STATUSES, help="sagas: only this status")
    cli.add_argument("--stuck", action="store_true", help="sagas: only those past a deadline")
    cli.add_argument("--customer", help="sagas: only this customer's")
    cli.add_argument("--limit", type=int, default=50, help="sagas: how many (1-100, default 50)")
    cli.add_argument("--continuation", help="sagas: the next page, as the last one said")


def run(args: argparse.Namespace) -> int:
    try:
        source = HttpSource(args.url, args.key) if args.url else DataSource(args.data_dir)
        if args.command == "show":
            if not args.quote_id:
                raise CliError("show needs a quote id: python -m devhost show QUOTE_ID")
            print(show(source.quote(args.quote_id)))
            return 0
        filters = {
            "status": args.status,
            "stuck": "true" if args.stuck else None,
            "customerId": args.customer,
            "limit": str(args.limit),
            "continuation": args.continuation,
        }
        page = source.sagas({k: v for k, v in filters.items() if v is not None})
        print(table(source.summary(), page))
        return 0
    except CliError as error:
        print(f"python -m devhost {args.command}: {error}", file=sys.stderr)
        return 1


def table(summary: dict[str, Any], page: dict[str, Any]) -> str:
    counts = "  ".join(f"{status} {n}" for status, n in summary["counts"].items())
    rows = [COLUMNS] + [
        (
            item["quoteId"],
            item["customerId"] or "-",
            item["status"],
            item["step"] or "-",
            "STUCK" if item["stuck"] else "-",
            _time(item["startedAt"]),
            item["reason"] or "-",
        )
        for item in page["items"]
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS) - 1)]
    lines = [f"{counts}  (stuck {summary['stuck']})", ""]
    lines += ["  ".join([*(c.ljust(w) for c, w in zip(r, widths, strict=False)), r[-1]])
              for r in rows]  # fmt: skip
    if not page["items"]:
        lines.append("(no saga matches)")
    if page["continuation"]:
        lines.append(f"\nmore: the same command with --continuation {page['continuation']}")
    return "\n".join(line.rstrip() for line in lines)


def show(view: dict[str, Any]) -> str:
    """The quote, its saga, and the timeline as `python -m devhost demo` prints it."""
    quote, saga = view["quote"], view.get("saga") or {}
    status = saga.get("status", "not started")
    step = saga.get("step") and f", waiting on {saga['step']} until {_time(saga['deadline'])}"
    return "\n".join([
        f"{quote['quoteId']} - customer {quote['customerId']}, "
        f"premium {Decimal(str(quote['premium'])):,.2f}, "
        f"quote {quote['status']}: saga {status}{step or ''}",
        *([f"   policy {quote['policyId']}"] if quote.get("policyId") else []),
        timeline(view["timeline"]),
    ])  # fmt: skip


def _time(text: str | None) -> str:
    return "-" if text is None else text.replace("+00:00", "Z")[:19].replace("T", " ")


class HttpSource:
    """The host's HTTP API: GET /api/sagas, /api/sagas/summary, /api/quotes/{id}."""

    def __init__(self, url: str, key: str | None) -> None:
        self.base, self.key = url.rstrip("/"), key

    def sagas(self, params: dict[str, str]) -> dict[str, Any]:
        return self._get(f"/api/sagas?{urlencode(params)}")

    def summary(self) -> dict[str, Any]:
        return self._get("/api/sagas/summary")

    def quote(self, quote_id: str) -> dict[str, Any]:
        return self._get(f"/api/quotes/{url_quote(quote_id, safe='')}")

    def _get(self, path: str) -> dict[str, Any]:
        headers = {"x-functions-key": self.key} if self.key else {}
        request = urllib.request.Request(self.base + path, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read())  # type: ignore[no-any-return]
        except urllib.error.HTTPError as error:
            raise CliError(_problem(error)) from error
        except (urllib.error.URLError, OSError) as error:
            raise CliError(f"cannot reach {self.base}: {error}") from error


def _problem(error: urllib.error.HTTPError) -> str:
    try:
        return f"{error.code}: {json.loads(error.read())['detail']}"
    except (ValueError, KeyError, TypeError):
        return f"the host answered {error.code} {error.reason}"


class DataSource:
    """A host's data directory: its SQLite store, read through the app's own services."""

    def __init__(self, data_dir: Path | None) -> None:
        directory = data_dir or Path(".devhost")
        if not (directory / "store.db").is_file():
            raise CliError(f"no store in {directory}/ (start a host: python -m devhost)")
        from application.sagas import InvalidQuery
        from bootstrap import Services, Settings, build_adapters

        settings = Settings({"STORE_BACKEND": "sqlite", "SQLITE_DIR": str(directory),
                             "PUBLISHER_BACKEND": "memory"})  # fmt: skip
        self.app = Services(settings, build_adapters(settings))
        self._invalid: type[Exception] = InvalidQuery

    def sagas(self, params: dict[str, str]) -> dict[str, Any]:
        from domain.saga import SagaStatus

        status = params.get("status")
        return self._answer(
            lambda: self.app.sagas.page(
                status=SagaStatus(status) if status else None,
                stuck=params.get("stuck") == "true",
                customer_id=params.get("customerId"),
                limit=int(params["limit"]),
                continuation=params.get("continuation"),
            )
        )

    def summary(self) -> dict[str, Any]:
        return self._answer(self.app.sagas.totals)

    def quote(self, quote_id: str) -> dict[str, Any]:
        from triggers.openapi import quote_view

        shown = self.app.quotes.view(quote_id)
        if shown is None:
            raise CliError(f"quote {quote_id} does not exist")
        return quote_view(shown).model_dump(mode="json")  # as GET /api/quotes/{id} answers

    def _answer(self, call: Callable[[], Any]) -> dict[str, Any]:
        try:
            return call().model_dump(mode="json")  # type: ignore[no-any-return]
        except self._invalid as error:
            raise CliError(str(error)) from error
