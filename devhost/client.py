"""A small HTTP client of the app's API, as demo, bench and the e2e tests drive it: one
keep-alive connection per thread, JSON in and out, retries while the host is unreachable."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

TERMINAL = ("Completed", "Compensated")


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class HostUnavailable(Exception):
    """The host did not answer within the time given."""


class Client:
    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.timeout = timeout
        self._local = threading.local()

    def request(
        self, method: str, path: str, body: Any = None, patience: float = 0.0
    ) -> tuple[int, Any]:
        """(status, JSON body or None); connection failures are retried for `patience` s."""
        deadline = time.monotonic() + patience
        payload = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        while True:
            try:
                conn = self._connection()
                conn.request(method, path, body=payload, headers=headers)
                response = conn.getresponse()
                data = response.read()
                return response.status, json.loads(data) if data else None
            except (OSError, http.client.HTTPException) as error:
                self._local.conn = None
                if time.monotonic() >= deadline:
                    raise HostUnavailable(f"{method} {path}: {error!r}") from error
                time.sleep(0.05)

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def create_quote(
        self, customer_id: str, premium: Decimal, quote_id: str, patience: float = 0.0
    ) -> Any:
        status, body = self.request(
            "POST",
            "/api/quotes",
            {"customerId": customer_id, "premium": str(premium), "quoteId": quote_id},
            patience,
        )
        if status not in (200, 201):
            raise RuntimeError(f"create {quote_id}: {status} {body}")
        return body

    def approve(self, quote_id: str, patience: float = 0.0) -> Any:
        status, body = self.request("POST", f"/api/quotes/{quote_id}/approve", None, patience)
        if status not in (200, 202):
            raise RuntimeError(f"approve {quote_id}: {status} {body}")
        return body

    def quote(self, quote_id: str, patience: float = 0.0) -> Any:
        status, body = self.request("GET", f"/api/quotes/{quote_id}", None, patience)
        return body if status == 200 else None

    def saga_status(self, quote_id: str, patience: float = 0.0) -> str | None:
        view = self.quote(quote_id, patience)
        saga = (view or {}).get("saga") or {}
        return saga.get("status")

    def wait_until_terminal(
        self, quote_id: str, timeout: float = 30.0, interval: float = 0.02
    ) -> Any:
        """The quote's view once its saga completed or compensated; TimeoutError if not."""
        deadline = time.monotonic() + timeout
        while True:
            view = self.quote(quote_id, patience=max(0.0, deadline - time.monotonic()))
            if view and (view.get("saga") or {}).get("status") in TERMINAL:
                return view
            if time.monotonic() >= deadline:
                raise TimeoutError(f"saga {quote_id} did not end: {view}")
            time.sleep(interval)

    def wait_until_ready(self, timeout: float = 30.0) -> None:
        status, _ = self.request("GET", "/admin/host/status", patience=timeout)
        if status != 200:
            raise HostUnavailable(f"host status {status}")
