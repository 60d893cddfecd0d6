"""HTTP triggers as the host serves them: the app's routes under the route prefix (`api`),
real func.HttpRequest in and func.HttpResponse out, one WSGI call per request (the server is
devhost/http_server.py). Auth levels are not enforced, as with `func start`. Host endpoints:
GET /admin/host/status, /admin/devhost/stats and /admin/devhost/backlog. Anything else, and
any request the server cannot serve, is answered as an RFC 9457 problem."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import azure.functions as func

from application.ports import TransientFailure
from devhost.context import Context
from devhost.functions import Function
from devhost.invoker import Invoker
from devhost.problems import PROBLEM_JSON, phrase, problem
from devhost.routes import Route, path_parts

logger = logging.getLogger("devhost")
RETRY_AFTER_SECONDS = 5  # as the app's own 503s (triggers/problems.py)
Reply = tuple[int, dict[str, str], bytes]
ADMIN_METHODS = ("GET", "HEAD")
_HOP_BY_HOP = {"content-length", "connection", "transfer-encoding", "keep-alive", "upgrade"}


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

    def _below_prefix(self, path: str) -> str | None:
        if not self.prefix:
            return path
        head, _, rest = path.strip("/").partition("/")
        return rest if head.lower() == self.prefix.lower() else None

    def find(self, method: str, path: str) -> tuple[Function, dict[str, str]] | None:
        """The function for a request path (under the prefix) and method, with its route
        parameters; a route whose methods exclude the request's is skipped, as in the host."""
        below = self._below_prefix(path)
        if below is None:
            return None
        parts, method = path_parts(below), method.upper()
        for route, allowed, function in self.routes:
            if allowed is not None and method not in allowed:
                continue
            params = route.match(parts)
            if params is not None:
                return function, params
        return None

    def allowed(self, path: str) -> list[str]:
        """The methods of the routes that match a path (for a 405's Allow header)."""
        below = self._below_prefix(path)
        if below is None:
            return []
        parts = path_parts(below)
        methods = {m for route, allowed, _ in self.routes if route.match(parts) is not None
                   for m in allowed or ()}  # fmt: skip
        return sorted(methods)


class HttpApp:
    """The WSGI application: one request in, one reply out; it never raises."""

    def __init__(
        self,
        routes: HttpRoutes,
        invoker: Invoker,
        admin: Callable[[str], dict[str, Any] | None],
    ) -> None:
        self.routes, self.invoker, self.admin = routes, invoker, admin

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        try:
            status, headers, body = self.serve(environ)
        except Exception:
            logger.exception("HTTP %s %s", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"))
            status, headers, body = 500, {}, b""
        fields = [(k, v) for k, v in headers.items() if k.lower() not in _HOP_BY_HOP]
        start_response(f"{status} {phrase(status)}", [*fields, ("Content-Length", str(len(body)))])
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [body]

    def serve(self, environ: dict[str, Any]) -> Reply:
        method, target = environ["REQUEST_METHOD"], environ["REQUEST_URI"]
        parts = urlsplit(target)
        if parts.path.startswith("/admin/"):
            return self._admin(method, parts.path)
        found = self.routes.find(method, parts.path)
        if found is None:
            allowed = self.routes.allowed(parts.path)
            if allowed:
                detail = f"{method} is not allowed here; use {', '.join(allowed)}"
                return _problem(405, detail, {"Allow": ", ".join(allowed)})
            return _problem(404, f"no route {parts.path}")
        function, route_params = found
        length = int(environ.get("CONTENT_LENGTH") or 0)  # checked by the server
        body = environ["wsgi.input"].read(length) if length else b""
        headers = _headers(environ)
        host = headers.get("Host") or f"127.0.0.1:{environ['SERVER_PORT']}"
        request = func.HttpRequest(
            method,
            target if parts.scheme else f"http://{host}{target}",
            headers=headers,
            params=dict(parse_qsl(parts.query, keep_blank_values=True)),
            route_params=route_params,
            body=body,
        )
        result: list[object] = []
        context = Context(function.name, trace_parent=headers.get("Traceparent") or "")
        correlation = list(route_params.values())[:1]
        error = self.invoker.call(function, request, context, 1, correlation, result)
        if isinstance(error, TransientFailure):
            # The invocation's writes did not commit (locally they commit after the function
            # returned; in Azure the failing write would have been inside it, and the app
            # answers a storage outage with a 503): whatever the function answered is void.
            detail = f"the local store cannot take writes now ({error}); retry later"
            return _problem(503, detail, {"Retry-After": str(RETRY_AFTER_SECONDS)})
        if error is not None or not result or not isinstance(result[0], func.HttpResponse):
            return 500, {}, b""  # as the host: the exception is in the log, not the reply
        return _reply(result[0])

    def _admin(self, method: str, path: str) -> Reply:
        if method not in ADMIN_METHODS:
            detail = f"{method} is not allowed here; use {', '.join(ADMIN_METHODS)}"
            return _problem(405, detail, {"Allow": ", ".join(ADMIN_METHODS)})
        answer = self.admin(path)
        if answer is None:
            return _problem(404, f"no host endpoint {path}")
        return 200, {"Content-Type": "application/json"}, json.dumps(answer).encode()


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    """The request's header fields, named as sent but for case (WSGI upper-cases them)."""
    headers = {
        key[5:].replace("_", "-").title(): value
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if key in environ:
            headers[key.replace("_", "-").title()] = environ[key]
    return headers


def _reply(response: func.HttpResponse) -> Reply:
    headers = dict(response.headers.items())
    if response.mimetype and "content-type" not in {k.lower() for k in headers}:
        headers["Content-Type"] = (
            f"{response.mimetype}; charset={response.charset}"
            if response.charset
            else response.mimetype
        )
    return response.status_code, headers, response.get_body() or b""


def _problem(status: int, detail: str, headers: dict[str, str] | None = None) -> Reply:
    return status, {"Content-Type": PROBLEM_JSON, **(headers or {})}, problem(status, detail)
