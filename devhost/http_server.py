"""The local host's HTTP server: waitress, i.e. one I/O thread that reads every connection and
a fixed pool of worker threads that a request reaches only once it has arrived in full. So a
slow or silent client holds a socket, never a thread. What waitress refuses itself (a bad
request line, Content-Length or header block, a body over the limit) and a request that does
not arrive in time are answered as RFC 9457 problems, then the connection is closed."""

from __future__ import annotations

import logging
import os
import resource
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser, ParsingError
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask, WSGITask
from waitress.utilities import BadRequest, Error

from devhost.problems import PROBLEM_JSON, problem

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass(frozen=True)
class HttpLimits:
    # Requests served at once (the rest queue in arrival order). `bench --concurrency 32`,
    # interleaved runs: 16 gave more sagas/s and less CPU per saga than 8 or 32.
    threads: int = 16
    request_timeout: float = 30.0  # from a request's first byte to its last
    # A kept-alive connection with nothing in flight; Kestrel's KeepAliveTimeout is 130 s:
    # https://learn.microsoft.com/dotnet/api/microsoft.aspnetcore.server.kestrel.core.kestrelserverlimits.keepalivetimeout
    idle_timeout: float = 130.0
    # Kestrel's (the Functions host's server) default MaxRequestHeadersTotalSize is 32 KB:
    # https://learn.microsoft.com/dotnet/api/microsoft.aspnetcore.server.kestrel.core.kestrelserverlimits.maxrequestheaderstotalsize
    max_header_bytes: int = 32 * 1024
    # The Functions host refuses HTTP request bodies over 100 MB:
    # https://learn.microsoft.com/azure/azure-functions/functions-bindings-http-webhook-trigger#limits
    max_body_bytes: int = 100 * 1024 * 1024
    connection_limit: int = 1000

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> HttpLimits:
        """DEVHOST_HTTP_THREADS, DEVHOST_HTTP_REQUEST_TIMEOUT and DEVHOST_HTTP_IDLE_TIMEOUT
        (seconds) where set, the defaults otherwise."""
        default = cls()
        return cls(
            threads=int(environ.get("DEVHOST_HTTP_THREADS", default.threads)),
            request_timeout=float(
                environ.get("DEVHOST_HTTP_REQUEST_TIMEOUT", default.request_timeout)
            ),
            idle_timeout=float(environ.get("DEVHOST_HTTP_IDLE_TIMEOUT", default.idle_timeout)),
        )


class RequestTimeout(Error):  # type: ignore[misc]
    code = 408
    reason = "Request Timeout"


class _ProblemTask(ErrorTask):  # type: ignore[misc]
    """waitress's error response, as application/problem+json instead of text/plain."""

    def execute(self) -> None:
        error = self.request.error
        body = problem(error.code, str(error.body))
        self.status = f"{error.code} {error.reason}"
        self.response_headers.append(("Content-Type", PROBLEM_JSON))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


# Per worker thread: .channel it serves; .quiet once it sent that channel's whole answer.
_worker = threading.local()


class _Task(WSGITask):  # type: ignore[misc]
    def finish(self) -> None:
        """Send the answer from this worker thread instead of waking the I/O thread to send
        it: one I/O loop pass (which polls every connection) per request instead of two."""
        super().finish()
        channel = self.channel
        with channel.outbuf_lock:
            try:
                channel._flush_some(do_close=False)  # the I/O thread closes, never this one
            except OSError:
                return
        # Unless the I/O thread has something left to send or to close, it need not be woken
        # (if it polls this connection for reads: see _Server.pull_trigger).
        _worker.quiet = not (channel.total_outbufs_len or self.close_on_finish)


class _Parser(HTTPRequestParser):  # type: ignore[misc]
    def __init__(self, adj: Adjustments) -> None:
        super().__init__(adj)
        self.started = time.monotonic()  # created at the request's first byte

    def received(self, data: bytes) -> int:
        """As waitress, but a header block ended by bare LFs is refused at once (waitress
        waits for CRLF CRLF, so it would be answered only at the request timeout)."""
        head = self.header_plus + data
        if self.body_rcv is None and b"\r\n\r\n" not in head and b"\n\n" in head:
            self.parse_header(b"GET / HTTP/1.0\r\n")  # as waitress does for its 431
            self.error = BadRequest("header lines must end with CRLF")
            self.completed = True
            return len(data)
        return int(super().received(data))

    def parse_header(self, header_plus: bytes) -> None:
        """waitress takes a request line without a version as HTTP/0.9 and answers it as
        HTTP/1.0; refuse it, and any major version but 1, as malformed (400)."""
        super().parse_header(header_plus)
        if not self.version:
            raise ParsingError("the request line has no HTTP version")
        if not self.version.startswith("1."):
            raise ParsingError(f"HTTP/{self.version} is not HTTP/1.x")


class _Channel(HTTPChannel):  # type: ignore[misc]
    task_class = _Task
    error_task_class = _ProblemTask
    parser_class = _Parser
    polled_for_reads = False  # what readable() last told the I/O thread
    half_closed = False  # the client ended its stream while a request was being served

    def readable(self) -> bool:
        if self.half_closed:
            if not self.requests and not self.total_outbufs_len:
                self.will_close = True  # answered: close our side too
            self.polled_for_reads = False
            return False
        self.polled_for_reads = bool(super().readable())
        return self.polled_for_reads

    def handle_read(self) -> None:
        """As waitress, but an end of stream while a request is served (which the lookahead
        lets this thread see) is a half-close: the answer still goes out, then we close."""
        if self.requests:
            try:
                if not self.socket.recv(1, socket.MSG_PEEK):
                    self.half_closed = True
                    return
            except OSError:
                pass  # waitress's handle_read meets the error again and closes
        super().handle_read()

    def writable(self) -> bool:
        # While a worker answers, it sends the answer itself (in _Task.finish, or send_bytes
        # at a time); polling for writability meanwhile would only spin the I/O thread.
        if self.requests and self.total_outbufs_len < self.adj.send_bytes:
            return bool(self.will_close or self.close_when_flushed)
        return bool(super().writable())

    def service(self) -> None:
        _worker.channel, _worker.quiet = self, False
        try:
            super().service()
        finally:
            _worker.quiet = False

    def time_out(self, detail: str) -> None:
        """Answer the request still arriving with a 408 (from the I/O thread, which is the
        only one that touches a request before it is complete)."""
        with self.requests_lock:
            request: _Parser = self.request
            self.request = None
            request.error = RequestTimeout(detail)
            request.completed = True
            self.requests.append(request)
        self.server.add_task(self)


class _Server(TcpWSGIServer):  # type: ignore[misc]
    channel_class = _Channel
    limits = HttpLimits()

    def pull_trigger(self) -> None:
        """Wake the I/O thread, unless this is a worker that sent its whole answer on a
        connection the I/O thread polls for reads already (with channel_request_lookahead
        a connection is polled while its request is served): the wake-up would only rebuild
        the poll set, which costs a call per connection."""
        if getattr(_worker, "quiet", False) and _worker.channel.polled_for_reads:
            return
        super().pull_trigger()

    def maintenance(self, now: float) -> None:
        """Every cleanup_interval: a request not in after request_timeout gets a 408, a quiet
        connection is closed after idle_timeout (waitress's own check closes only the latter;
        an idle kept-alive connection is closed without an answer, as clients expect)."""
        late = time.monotonic() - self.limits.request_timeout
        for channel in list(self.active_channels.values()):
            if channel.requests or channel.will_close or channel.close_when_flushed:
                continue  # being served, or closing already
            partial = channel.request
            if partial is not None and not partial.completed and partial.started < late:
                channel.time_out(
                    f"the request did not arrive in full within {self.limits.request_timeout:g} s"
                )
            elif partial is None and channel.last_activity < now - self.limits.idle_timeout:
                channel.will_close = True


class HttpServer:
    """Bound at construction (so `server_address` has the port); serve_forever() on a thread
    of its own; shutdown() drains: no new connections, requests already in are answered."""

    def __init__(
        self,
        address: tuple[str, int],
        app: WsgiApp,
        reuse_port: bool = False,
        limits: HttpLimits | None = None,
        listener: socket.socket | None = None,
    ) -> None:
        """Bound to `address`, or serving on `listener`, a socket already listening (one
        that worker processes share: devhost/workers.py)."""
        limits = limits or HttpLimits()
        if listener is not None:
            sock = listener
        else:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(address)
        adj = Adjustments(
            sockets=[sock],
            threads=limits.threads,
            max_request_header_size=limits.max_header_bytes,
            # waitress refuses a body of max_request_body_size bytes or more
            max_request_body_size=limits.max_body_bytes + 1,
            # past the descriptor limit accept() fails at once, and again at every poll
            connection_limit=min(limits.connection_limit, _descriptor_limit() - 64),
            cleanup_interval=max(1, int(min(limits.request_timeout, limits.idle_timeout) / 2)),
            asyncore_use_poll=True,  # select() stops at descriptor 1024
            # The I/O thread polls a connection for reads while its request is served, and
            # a worker sends its answer itself in one send (_Task.finish, _Server.pull_trigger).
            channel_request_lookahead=1,
            send_bytes=18000,
            log_socket_errors=False,  # a client that resets is not the host's error
            # X-Forwarded-* reach the app as sent, as before (and a middleware less to run)
            clear_untrusted_proxy_headers=False,
            ident="devhost",
        )
        # A request waiting for a worker is normal under load, not a warning per request.
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)
        self._map: dict[int, Any] = {}
        self._server = _Server(
            app,
            map=self._map,
            _sock=sock,
            adj=adj,
            bind_socket=False,
            sockinfo=(sock.family, sock.type, sock.proto, sock.getsockname()),
        )
        self._server.limits = limits
        self.server_address: tuple[str, int] = sock.getsockname()
        self._draining = threading.Event()
        self._stopped = threading.Event()

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        try:
            while not self._stopped.is_set():
                wasyncore.loop(timeout=poll_interval, map=self._map, use_poll=True, count=1)
                if self._draining.is_set() and self._drain():
                    break
        finally:
            self._stopped.set()

    def _drain(self) -> bool:
        """One step of a graceful stop (on the I/O thread); True once every connection is
        answered and closed."""
        server = self._server
        if server.accepting:
            server.accepting = False
            wasyncore.dispatcher.close(server)  # not server.close(): it also closes the trigger
        for channel in list(server.active_channels.values()):
            if not channel.requests and not channel.total_outbufs_len:
                channel.handle_close()
        return not server.active_channels

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop accepting, let requests in flight finish, close every connection."""
        self._draining.set()
        self._server.pull_trigger()
        if not self._stopped.wait(timeout):
            self._stopped.set()

    def server_close(self) -> None:
        self._server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
        wasyncore.close_all(self._map)


def _descriptor_limit() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20
