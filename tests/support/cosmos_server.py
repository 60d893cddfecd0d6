"""A Cosmos DB account for tests: the npm Cosmos-protocol server on loopback, or the account in
COSMOS_ENDPOINT/COSMOS_KEY (official emulator, real account). Fixtures live in cosmos_fixtures.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest
from azure.core.pipeline.transport import RequestsTransport

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = Path(__file__).with_name("cosmos_server.js")
SERVER = ROOT / "node_modules" / "@vercel" / "cosmosdb-server"
# patches/@vercel+cosmosdb-server+*.patch (applied by `npm ci`) closes the server's gaps the
# suite relies on: 404 for a missing item, atomic batches, 413 over 2 MB, the change feed.
PATCHED_FILE = SERVER / "lib" / "handler" / "batch-documents.js"
PATCH_MARK = "PATCH(quoting-saga)"
# The emulator's published well-known key; the local server accepts any key.
EMULATOR_KEY = (
    "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
)


class CountingTransport(RequestsTransport):
    """Records every HTTP request the SDK really sends (retries included), for budget tests."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._lock = threading.Lock()
        self.sent: list[str] = []

    def send(self, request: Any, **kwargs: Any) -> Any:
        """Record `<kind> <METHOD> /<path>`; kind is query, batch or other."""
        headers = request.headers
        kind = (
            "query"
            if headers.get("x-ms-documentdb-isquery") == "true"
            else "batch"
            if headers.get("x-ms-cosmos-is-batch-request") == "True"
            else "other"
        )
        path = request.url.split("://", 1)[-1].partition("/")[2]
        with self._lock:
            self.sent.append(f"{kind} {request.method} /{path}")
        return super().send(request, **kwargs)

    @contextmanager
    def counting(self) -> Iterator[list[str]]:
        """The requests sent inside the block (from every thread)."""
        seen: list[str] = []
        start = len(self.sent)
        try:
            yield seen
        finally:
            with self._lock:
                seen.extend(self.sent[start:])


@dataclass
class CosmosAccount:
    """Where the tests talk to, and the transport that counts every request sent there."""

    endpoint: str
    key: str
    transport: CountingTransport = field(default_factory=CountingTransport)

    @property
    def connection_string(self) -> str:
        extra = "DisableServerCertificateValidation=True;" if _tls_unverified() else ""
        return f"AccountEndpoint={self.endpoint};AccountKey={self.key};{extra}"


@contextmanager
def local_cosmos_server(timeout: float = 15.0) -> Iterator[str]:
    """Run the npm server (plain HTTP, keep-alive) on a free loopback port; yield its URL."""
    node = shutil.which("node")
    if node is None or not SERVER.is_dir():
        pytest.skip("Cosmos tests need Node >= 20 and `npm ci` (or COSMOS_ENDPOINT/COSMOS_KEY)")
    if PATCH_MARK not in PATCHED_FILE.read_text():
        raise RuntimeError(
            f"{SERVER} is not patched (its gaps would fail the suite): run `npm ci`, whose "
            "postinstall applies patches/ (patch-package)"
        )
    process = subprocess.Popen(
        [node, str(LAUNCHER), "127.0.0.1", "0"],
        cwd=ROOT,
        stdin=subprocess.PIPE,  # closed at the end: the launcher exits with its parent
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        yield f"http://127.0.0.1:{_ready_port(process, timeout)}/"
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()


def _ready_port(process: subprocess.Popen[str], timeout: float) -> int:
    lines: list[str] = []
    reader = threading.Thread(target=_read_line, args=(process.stdout, lines), daemon=True)
    reader.start()
    reader.join(timeout)
    if not lines or not lines[0].startswith("READY "):
        process.kill()
        raise RuntimeError(f"cosmosdb-server did not start within {timeout}s: {lines!r}")
    return int(lines[0].split()[1])


def _read_line(stream: IO[str] | None, into: list[str]) -> None:
    if stream is not None:
        into.append(stream.readline().strip())


@contextmanager
def cosmos_account() -> Iterator[CosmosAccount]:
    """COSMOS_ENDPOINT + COSMOS_KEY when set, else a fresh local server for the session."""
    endpoint, key = os.environ.get("COSMOS_ENDPOINT"), os.environ.get("COSMOS_KEY")
    if endpoint and key:
        yield CosmosAccount(endpoint, key)
        return
    with local_cosmos_server() as url:
        yield CosmosAccount(url, EMULATOR_KEY)


def _tls_unverified() -> bool:
    # The official emulator serves a self-signed certificate unless it is imported.
    return os.environ.get("COSMOS_DISABLE_TLS_VERIFY", "").lower() in {"1", "true", "yes"}
