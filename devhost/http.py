"""HTTP triggers on a threading HTTP server: the app's routes under the route prefix (`api`),
real func.HttpRequest in and func.HttpResponse out. Auth levels are not enforced, as with
`func start`. Two host endpoints: GET /admin/host/status and GET /admin/devhost/stats."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import azure.functions as func

from devhost.context import Context
from devhost.functions import Function
from devhost.invoker import Invoker
from devhost.routes import Route

logger = logging.getLogger("devhost")


class HttpRoutes:
    """The HTTP functions in matching order: literal segments first, catch-alls last."""

    def __init__(self, functions: list[Function], prefix: str = "api") -> None:
        self.prefix = prefix.strip("/")
        routes = []
        for function in functions:
            template = function.trigger.get("route") or function.name
            methods = function.trigger.get("methods")
            allowed = {m.upper() for m in methods} if methods else None
            routes.append((Route.parse(template), allowed, function))
        self.routes = sorted(routes, key=lambda r: r[0].precedence())

    def find(self, method: str, path: str) -> tuple[Function, dict[str, str]] | None:
        """The function for a request path (under the prefix) and method, with its route
        parameters; a route whose methods exclude the request's is skipped, as in the host."""
        if self.prefix:
            head, _, rest = path.strip("/").partition("/")
            if head.lower() != self.prefix.lower():
                return None
            path = rest
        for route, allowed, function in self.routes:
            params = route.match(path)
            if params is not None and (allowed is None or method.upper() in allowed):
                return function, params
        return None


class HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(
        self,
        address: tuple[str, int],
        routes: HttpRoutes,
        invoker: Invoker,
        admin: Callable[[str], dict[str, Any] | None],
        reuse_port: bool = False,
    ) -> None:
        self.routes, self.invoker, self.admin, self.reuse_port = routes, invoker, admin, reuse_port
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        if self.reuse_port:
            import socket

            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()


class _Handler(BaseHTTPRequestHandler):
    server: HttpServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per invocation comes from the invoker instead

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        if parts.path.startswith("/admin/"):
            answer = self.server.admin(parts.path)
            status = 200 if answer is not None else 404
            self._reply(status, {"Content-Type": "application/json"}, json.dumps(answer).encode())
            return
        found = self.server.routes.find(self.command, parts.path)
        if found is None:
            self._reply(404, {}, b"")
            return
        function, route_params = found
        host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_address[1]}"
        request = func.HttpRequest(
            self.command,
            f"http://{host}{self.path}",
            headers=dict(self.headers.items()),
            params=dict(parse_qsl(parts.query, keep_blank_values=True)),
            route_params=route_params,
            body=body,
        )
        result: list[object] = []
        context = Context(function.name, trace_parent=self.headers.get("traceparent") or "")
        correlation = list(route_params.values())[:1]
        error = self.server.invoker.call(function, request, context, 1, correlation, result)
        if error is not None or not result or not isinstance(result[0], func.HttpResponse):
            self._reply(500, {}, b"")
            return
        response = result[0]
        headers = dict(response.headers.items())
        if response.mimetype and "content-type" not in {k.lower() for k in headers}:
            headers["Content-Type"] = (
                f"{response.mimetype}; charset={response.charset}"
                if response.charset
                else response.mimetype
            )
        self._reply(response.status_code, headers, response.get_body() or b"")

    def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() not in {"content-length", "connection", "transfer-encoding"}:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
