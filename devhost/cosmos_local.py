"""The Cosmos-protocol server (npm @vercel/cosmosdb-server, patched by patches/*.patch) on a
free loopback port, and an SDK transport that records every HTTP request it sends: shared by
the tests (tests/support/cosmos_server.py) and `python -m devhost cost`."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

from azure.core.pipeline.transport import RequestsTransport
from azure.cosmos import ContainerProxy

ROOT = Path(__file__).resolve().parents[1]
LAUNCHER = Path(__file__).with_name("cosmos_server.js")
SERVER = ROOT / "node_modules" / "@vercel" / "cosmosdb-server"
# patches/@vercel+cosmosdb-server+*.patch (applied by `npm ci`) closes the server's gaps the
# app relies on: 404 for a missing item, atomic batches, 413 over 2 MB, the change feed.
PATCHED_FILE = SERVER / "lib" / "handler" / "batch-documents.js"
PATCH_MARK = "PATCH(quoting-saga)"
T = TypeVar("T")
# The emulator's published well-known key; the local server accepts any key.
EMULATOR_KEY = (
    "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
)


class ServerMissing(RuntimeError):
    """Node or node_modules is not there: nothing to start."""


@dataclass(frozen=True)
class Sent:
    """One HTTP request as the SDK sent it (retries and metadata reads included)."""

    kind: str  # query, batch, changefeed, read, create, upsert, replace, patch, delete, ...
    method: str
    path: str
    container: str | None  # the collection's id; None for account/database metadata
    request_bytes: int
    response_bytes: int
    status: int
    operations: tuple[tuple[str, int], ...] = ()  # a batch's (operationType, body bytes)

    @property
    def data(self) -> bool:
        """A request on documents (not account, database or container metadata)."""
        return self.kind not in {"metadata", "pkranges"}


class CountingTransport(RequestsTransport):
    """Records every HTTP request the SDK really sends, for budget tests and `devhost cost`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._lock = threading.Lock()
        self.sent: list[str] = []  # `<query|batch|other> <METHOD> /<path>`
        self.records: list[Sent] = []

    def send(self, request: Any, **kwargs: Any) -> Any:
        response = super().send(request, **kwargs)
        record = _record(request, response)
        legacy = record.kind if record.kind in {"query", "batch"} else "other"
        with self._lock:
            self.sent.append(f"{legacy} {record.method} /{record.path}")
            self.records.append(record)
        return response

    def counting(self) -> AbstractContextManager[list[str]]:
        """The requests sent inside the block (from every thread)."""
        return self._since(self.sent)

    def recording(self) -> AbstractContextManager[list[Sent]]:
        """The full records of the requests sent inside the block."""
        return self._since(self.records)

    @contextmanager
    def _since(self, log: list[T]) -> Iterator[list[T]]:
        seen: list[T] = []
        start = len(log)
        try:
            yield seen
        finally:
            _settle_background_refreshes()
            with self._lock:
                seen.extend(log[start:])


# A new client reads the account at its first request, then checks the endpoints' health on a
# thread of its own (azure-cosmos _GlobalEndpointManager._start_background_refresh). Its
# request belongs to the block that started it; left running, it lands in whichever block
# comes next (a warm append then counted an account read once in a while, under load).
SDK_REFRESH_THREAD = "cosmos-endpoint-refresh"


def _settle_background_refreshes(timeout: float = 30.0) -> None:
    for thread in threading.enumerate():
        if thread.name == SDK_REFRESH_THREAD and thread is not threading.current_thread():
            thread.join(timeout)


class ChangeFeedPull:
    """A container's latest-version change feed read with the pull model, as a trigger's lease
    follows it: everything from the beginning, then only what is new. The SDK leaves the token
    to resume from in the last response's etag header:
    https://learn.microsoft.com/azure/cosmos-db/nosql/change-feed-pull-model"""

    def __init__(self, container: ContainerProxy) -> None:
        self.container = container
        self.continuation: str | None = None

    def new_documents(self) -> list[dict[str, Any]]:
        if self.continuation is None:
            changes = self.container.query_items_change_feed(start_time="Beginning")
        else:
            changes = self.container.query_items_change_feed(continuation=self.continuation)
        documents = list(changes)
        self.continuation = self.container.client_connection.last_response_headers["etag"]
        return documents


def _record(request: Any, response: Any) -> Sent:
    headers = request.headers
    path = request.url.split("://", 1)[-1].partition("/")[2].partition("?")[0].strip("/")
    parts = path.split("/")
    container = parts[3] if len(parts) >= 4 and parts[2] == "colls" else None
    body = _bytes(request)
    operations: tuple[tuple[str, int], ...] = ()
    if headers.get("x-ms-documentdb-isquery") == "true":
        kind = "query"
    elif headers.get("x-ms-cosmos-is-batch-request") == "True":
        kind, operations = "batch", _operations(body)
    elif len(parts) == 5 and parts[4] == "pkranges":
        kind = "pkranges"
    elif len(parts) < 5 or parts[4] != "docs":
        kind = "metadata"
    elif headers.get("A-IM") == "Incremental feed":
        kind = "changefeed"
    elif len(parts) == 5:  # .../docs: a create, an upsert or a read feed
        upsert = headers.get("x-ms-documentdb-is-upsert") == "True"
        kind = "upsert" if upsert else "create" if request.method == "POST" else "readfeed"
    else:  # .../docs/{id}
        kinds = {"GET": "read", "PUT": "replace", "PATCH": "patch", "DELETE": "delete"}
        kind = kinds.get(request.method, request.method.lower())
    return Sent(
        kind,
        request.method,
        path,
        container,
        len(body),
        len(response.body() or b""),
        response.status_code,
        operations,
    )


def _bytes(request: Any) -> bytes:
    data = request.data
    if data is None:
        return b""
    return data if isinstance(data, bytes) else str(data).encode()


def _operations(body: bytes) -> tuple[tuple[str, int], ...]:
    try:
        operations = json.loads(body)
    except ValueError:
        return ()
    return tuple(
        (str(op.get("operationType")), len(json.dumps(op.get("resourceBody", {})).encode()))
        for op in operations
    )


@contextmanager
def local_server(timeout: float = 15.0) -> Iterator[str]:
    """Run the npm server (plain HTTP, keep-alive) on a free loopback port; yield its URL."""
    node = shutil.which("node")
    if node is None or not SERVER.is_dir():
        raise ServerMissing("the Cosmos-protocol server needs Node >= 20 and `npm ci`")
    if PATCH_MARK not in PATCHED_FILE.read_text():
        raise RuntimeError(
            f"{SERVER} is not patched (its gaps would fail the app): run `npm ci`, whose "
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
