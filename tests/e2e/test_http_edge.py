"""The local host's HTTP edge as a hostile client meets it, over raw sockets: every malformed
request is answered with a 4xx RFC 9457 problem, slow clients are timed out, and they hold no
thread while they dawdle."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.hosts import HostProcess

pytestmark = pytest.mark.e2e

REQUEST_TIMEOUT, IDLE_TIMEOUT = 1.0, 2.0
# waitress checks the clock every cleanup interval (1 s at least), so a timeout fires up to
# a second late; and the host answers the timed-out request from a worker thread.
LATE = 2.5


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    settings = {
        "DEVHOST_HTTP_REQUEST_TIMEOUT": str(REQUEST_TIMEOUT),
        "DEVHOST_HTTP_IDLE_TIMEOUT": str(IDLE_TIMEOUT),
    }
    process = HostProcess(tmp_path_factory.mktemp("edge"), settings=settings).start()
    yield process
    assert process.terminate() == 0


@dataclass
class Answer:
    status_line: str
    headers: dict[str, str]
    body: bytes

    @property
    def status(self) -> int:
        return int(self.status_line.split()[1])

    def problem(self) -> dict[str, object]:
        """The body, checked to be an RFC 9457 problem of this answer's status."""
        assert self.headers.get("content-type", "").startswith("application/problem+json")
        document = json.loads(self.body)
        assert document["status"] == self.status
        assert {"type", "title", "detail"} <= document.keys()
        return document


def connect(host: HostProcess, timeout: float = 10.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", host.port), timeout=timeout)


def read_answer(sock: socket.socket) -> Answer:
    """One response: its head, then Content-Length bytes (or up to the close)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed without an answer (after {data!r})"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    assert status_line.startswith("HTTP/1."), status_line
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines)}
    length = int(headers.get("content-length", -1))
    while len(body) < length or length < 0:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return Answer(status_line, headers, body)


def exchange(host: HostProcess, raw: bytes) -> Answer:
    with connect(host) as sock:
        sock.sendall(raw)
        return read_answer(sock)


def post(headers: str, body: bytes = b"") -> bytes:
    return f"POST /api/quotes HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode() + body


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (post("Content-Length: abc\r\n"), 400),
        (post("Content-Length: -5\r\n"), 400),
        (post("Content-Length: 1000000000000\r\n"), 413),
        (b"GET /api/openapi.json\r\n\r\n", 400),  # no HTTP version
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n", 400),  # TLS hello
        (b"G(T /api/quotes HTTP/1.1\r\nHost: x\r\n\r\n", 400),  # a method that is no token
        (b"get /api/quotes HTTP/1.1\r\nHost: x\r\n\r\n", 400),  # methods are case-sensitive
        (b"GET /api/quotes HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n", 431),
        (b"GET /api/quotes HTTP/1.1\nHost: x\n\n", 400),  # bare LFs
    ],
    ids=[
        "non-numeric-length",
        "negative-length",
        "huge-length",
        "no-version",
        "garbage-request-line",
        "method-not-a-token",
        "lower-case-method",
        "100KB-header",
        "bare-LF",
    ],
)
def test_a_malformed_request_is_answered_with_a_4xx_problem(host, raw, status):
    answer = exchange(host, raw)

    assert answer.status == status
    answer.problem()


@pytest.mark.parametrize(
    ("path", "allow"),
    [("/api/quotes", "POST"), ("/admin/host/status", "GET, HEAD")],
)
def test_an_unknown_method_is_a_405_problem_naming_the_methods_allowed(host, path, allow):
    answer = exchange(host, f"FROB {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())

    assert answer.status == 405
    assert answer.headers["allow"] == allow
    answer.problem()


@pytest.mark.parametrize("path", ["/", "/favicon.ico", "/quotes/Q-1", "/admin/nothing"])
def test_a_path_outside_the_api_is_a_404_problem(host, path):
    answer = exchange(host, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())

    assert answer.status == 404
    assert answer.problem()["title"] == "Not Found"


def test_a_body_shorter_than_its_content_length_is_answered_408_after_the_timeout(host):
    with connect(host) as sock:
        sock.sendall(post("Content-Type: application/json\r\nContent-Length: 100\r\n", b"{"))
        sent = time.monotonic()
        answer = read_answer(sock)
        waited = time.monotonic() - sent

    assert answer.status == 408
    answer.problem()
    assert REQUEST_TIMEOUT <= waited <= REQUEST_TIMEOUT + LATE


def test_a_trickling_client_is_answered_408_though_it_never_falls_silent(host):
    head = b"GET /api/openapi.json HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100
    with connect(host) as sock:
        sock.setblocking(False)
        started, answer = time.monotonic(), b""
        for byte in head:  # one byte every 50 ms: never idle for the idle timeout
            try:
                sock.send(bytes([byte]))
                answer += sock.recv(65536)
            except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                pass
            if answer:
                break
            time.sleep(0.05)
        waited = time.monotonic() - started

    assert answer.startswith(b"HTTP/1."), answer[:60]
    assert answer.split()[1] == b"408", answer[:60]
    assert b"application/problem+json" in answer
    assert waited <= REQUEST_TIMEOUT + LATE


def test_a_connection_that_sends_nothing_is_closed_after_the_idle_timeout(host):
    with connect(host) as sock:
        opened = time.monotonic()
        assert sock.recv(1) == b""
        assert time.monotonic() - opened <= IDLE_TIMEOUT + LATE


def threads_of(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/task").iterdir()))


def test_forty_slow_clients_hold_no_thread_and_do_not_stop_others_being_served(host):
    assert host.process is not None
    pid, before = host.process.pid, threads_of(host.process.pid)
    slow = [connect(host) for _ in range(40)]
    for n, sock in enumerate(slow):
        if n % 2:  # half send a partial request, half nothing at all
            sock.sendall(post("Content-Length: 100\r\n", b"{"))
    time.sleep(0.3)
    during = threads_of(pid)

    started = time.monotonic()
    answer = exchange(host, b"GET /admin/host/status HTTP/1.1\r\nHost: x\r\n\r\n")
    served_in = time.monotonic() - started

    assert during - before <= 2, f"{before} threads before, {during} with 40 slow clients"
    assert answer.status == 200
    assert served_in < REQUEST_TIMEOUT
    for n, sock in enumerate(slow):
        if n % 2:
            assert read_answer(sock).status == 408
        else:
            assert sock.recv(1) == b""
        sock.close()


def test_answers_on_a_kept_alive_connection_are_not_held_back_for_an_ack(host):
    # http.server wrote the head and the body in two sends: Nagle held the body back until
    # the client's delayed ACK (40 ms on Linux), so every request took ~44 ms.
    request = b"GET /admin/host/status HTTP/1.1\r\nHost: x\r\n\r\n"
    with connect(host) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        took = []
        for _ in range(25):
            started = time.perf_counter()
            sock.sendall(request)
            assert read_answer(sock).status == 200
            took.append(time.perf_counter() - started)

    assert sorted(took[5:])[10] < 0.020, [f"{t * 1000:.1f} ms" for t in took]


def test_a_client_that_half_closes_after_its_request_still_gets_the_answer(host):
    with connect(host) as sock:
        sock.sendall(b"GET /api/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.shutdown(socket.SHUT_WR)
        answer = read_answer(sock)
        assert sock.recv(1) == b""  # and then the host closes its side

    assert answer.status == 200
    assert json.loads(answer.body)["openapi"].startswith("3.")
