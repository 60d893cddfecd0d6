"""The HTTP API: parse the request, call the application, shape the reply (JSON in and out,
errors as RFC 9457 problems). Routes, methods and auth levels come from triggers/openapi.py."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import azure.functions as func
from pydantic import BaseModel, ValidationError

from application.replay import ReplayRefused
from application.sagas import DEFAULT_PAGE, MAX_PAGE, InvalidQuery
from application.telemetry import log
from application.views import utc_text
from bootstrap import services
from domain.messages import ID_PATTERN, ID_RULE
from domain.saga import SagaStatus
from domain.saga_events import MAX_OPERATOR
from triggers import openapi as api
from triggers import problems
from triggers.problems import FieldProblem, ProblemError

bp = func.Blueprint()
logger = logging.getLogger("quoting.http")

M = TypeVar("M", bound=BaseModel)
# W3C trace context: a malformed header is ignored, not trusted into stored events.
TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


@dataclass(frozen=True)
class Reply:
    status: int
    body: BaseModel | dict[str, Any]
    correlation_id: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def response(self) -> func.HttpResponse:
        text = (
            self.body.model_dump_json()
            if isinstance(self.body, BaseModel)
            else json.dumps(self.body)
        )
        return func.HttpResponse(
            text, status_code=self.status, headers=self.headers, mimetype="application/json"
        )


def endpoint(op: api.Operation) -> Callable[[Callable[[func.HttpRequest], Reply]], Any]:
    """Register `handler` as the function of `op`; errors become problems, one log line each."""

    def register(handler: Callable[[func.HttpRequest], Reply]) -> Any:
        # Not functools.wraps: the worker reads the signature (and `-> HttpResponse`) of
        # this function, and __wrapped__ would point it at the handler's.
        def run(req: func.HttpRequest) -> func.HttpResponse:
            return _serve(op, handler, req)

        run.__name__ = run.__qualname__ = op.name
        run.__doc__ = handler.__doc__
        methods = None if op.method == "*" else [op.method]
        route = bp.route(route=op.route, methods=methods, auth_level=op.auth)
        return bp.function_name(op.name)(route(run))

    return register


def _serve(
    op: api.Operation, handler: Callable[[func.HttpRequest], Reply], req: func.HttpRequest
) -> func.HttpResponse:
    started, instance = time.perf_counter(), urlsplit(req.url).path or "/"
    request_id = _trace_id(req) or uuid.uuid4().hex
    correlation_id = req.route_params.get("quoteId")
    try:
        reply = handler(req)
        correlation_id = reply.correlation_id or correlation_id
        response = reply.response()
    except Exception as error:
        answer = problems.from_exception(error, instance)
        if answer is None:
            logger.exception(
                "%s failed requestId=%s correlationId=%s", op.name, request_id, correlation_id
            )
            answer = problems.response(
                "internal-error", f"unexpected error, logged as requestId={request_id}", instance
            )
        response = answer
    log(
        logger,
        logging.INFO,
        f"{op.name} {req.method} {instance} -> {response.status_code}",
        correlationId=correlation_id,
        requestId=request_id,
        statusCode=response.status_code,
        durationMs=round((time.perf_counter() - started) * 1000, 1),
    )
    return response


# --- request parsing -------------------------------------------------------------------------


def json_body(req: func.HttpRequest, model: type[M]) -> M:
    media_type = (req.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise ProblemError(
            "unsupported-media-type",
            f"send the body as application/json, not {media_type or 'without a Content-Type'}",
        )
    body = req.get_body()
    if len(body) > api.MAX_BODY_BYTES:
        raise ProblemError(
            "payload-too-large", f"the body is {len(body)} bytes; at most {api.MAX_BODY_BYTES}"
        )
    try:
        return model.model_validate_json(body)
    except ValidationError as error:
        raise problems.invalid_input(error) from error


def route_id(req: func.HttpRequest, name: str) -> str:
    value = req.route_params.get(name) or ""
    if re.fullmatch(ID_PATTERN, value) is None:
        detail = f"{name} must be {ID_RULE}"
        raise ProblemError("invalid-request", detail, [FieldProblem(detail=detail, parameter=name)])
    return value


def query_limit(
    req: func.HttpRequest, default: int = 100, maximum: int = api.MAX_LIST_LIMIT
) -> int:
    text = req.params.get("limit")
    if text is None:
        return default
    # Not str.isdigit(): it accepts "³²", which int() refuses.
    if not re.fullmatch(r"[0-9]{1,7}", text) or not 1 <= int(text) <= maximum:
        detail = f"limit must be an integer from 1 to {maximum}"
        raise ProblemError(
            "invalid-request", detail, [FieldProblem(detail=detail, parameter="limit")]
        )
    return int(text)


def _trace_id(req: func.HttpRequest) -> str | None:
    traceparent = traceparent_of(req)
    return traceparent.split("-")[1] if traceparent else None


def traceparent_of(req: func.HttpRequest) -> str | None:
    value = (req.headers.get("traceparent") or "").strip().lower()
    return value if TRACEPARENT.match(value) else None


def not_found(what: str) -> ProblemError:
    return ProblemError("not-found", f"{what} does not exist")


# --- quotes ----------------------------------------------------------------------------------


@endpoint(api.CREATE_QUOTE)
def create_quote(req: func.HttpRequest) -> Reply:
    request = json_body(req, api.CreateQuoteRequest)
    created = services().quotes.create(
        request.customerId, request.premium, request.quoteId, traceparent_of(req)
    )
    quote = api.QuoteBody.model_validate(created.quote.model_dump())
    return Reply(
        201 if created.created else 200,
        quote,
        quote.quoteId,
        {"Location": f"/api/quotes/{quote.quoteId}"},
    )


@endpoint(api.APPROVE_QUOTE)
def approve_quote(req: func.HttpRequest) -> Reply:
    quote_id = route_id(req, "quoteId")
    app = services()
    shown = app.quotes.approve(quote_id, traceparent_of(req))
    quote, saga = api.quote_body(shown), api.saga_body(shown)
    return Reply(202, api.ApprovalAccepted(quote=quote, saga=saga), quote_id)


@endpoint(api.GET_QUOTE)
def get_quote(req: func.HttpRequest) -> Reply:
    quote_id = route_id(req, "quoteId")
    shown = services().quotes.view(quote_id)
    if shown is None:
        raise not_found(f"quote {quote_id}")
    return Reply(200, api.quote_view(shown), quote_id)


@endpoint(api.GET_CUSTOMER)
def get_customer(req: func.HttpRequest) -> Reply:
    customer_id = route_id(req, "customerId")
    customer = services().quotes.customer(customer_id)
    if customer is None:
        raise not_found(f"customer {customer_id}")
    body = api.CustomerBody(
        customerId=customer.customerId,
        policyCount=customer.policyCount,
        policies=list(customer.activePolicies),
    )
    return Reply(200, body)


# --- dead letters (admin) --------------------------------------------------------------------


@endpoint(api.LIST_DEAD_LETTERS)
def list_dead_letters(req: func.HttpRequest) -> Reply:
    correlation_id = query_id(req, "correlationId")
    state = query_choice(req, "state", ("open", "replayed"))
    letters = services().desk.list(query_limit(req), correlation_id, state)  # type: ignore[arg-type]
    return Reply(200, api.DeadLetterList(items=letters), correlation_id)


@endpoint(api.REPLAY_DEAD_LETTER)
def replay_dead_letter(req: func.HttpRequest) -> Reply:
    letter_id = route_id(req, "letterId")
    try:
        letter = services().desk.replay(letter_id)
    except ReplayRefused as refused:  # the new reason is on the letter, which stays open
        raise ProblemError("still-unprocessable", str(refused)) from refused
    if letter is None:
        raise not_found(f"dead letter {letter_id}")
    return Reply(200, letter, letter.correlationId)


# --- operating the sagas (admin) ------------------------------------------------------------


@endpoint(api.LIST_SAGAS)
def list_sagas(req: func.HttpRequest) -> Reply:
    status = query_choice(req, "status", tuple(s.value for s in SagaStatus))
    with invalid_query():
        page = services().sagas.page(
            status=SagaStatus(status) if status else None,
            stuck=query_choice(req, "stuck", ("true", "false")) == "true",
            customer_id=query_id(req, "customerId"),
            created_from=query_time(req, "createdFrom"),
            created_to=query_time(req, "createdTo"),
            limit=query_limit(req, DEFAULT_PAGE, MAX_PAGE),
            continuation=req.params.get("continuation") or None,
        )
    return Reply(200, page)


@endpoint(api.SAGA_SUMMARY)
def saga_summary(req: func.HttpRequest) -> Reply:
    return Reply(200, services().sagas.totals())


@endpoint(api.CUSTOMER_QUOTES)
def customer_quotes(req: func.HttpRequest) -> Reply:
    customer_id = route_id(req, "customerId")
    limit = query_limit(req, DEFAULT_PAGE, MAX_PAGE)
    with invalid_query():
        found = services().quotes.customer_quotes(
            customer_id, limit, req.params.get("continuation") or None
        )
    if found is None:
        raise ProblemError("not-found", f"customer {customer_id} has no quote")
    return Reply(200, found)


def query_id(req: func.HttpRequest, name: str) -> str | None:
    value = req.params.get(name)
    if value is not None and re.fullmatch(ID_PATTERN, value) is None:
        raise _bad_parameter(name, f"{name} must be {ID_RULE}")
    return value


def query_choice(req: func.HttpRequest, name: str, choices: tuple[str, ...]) -> str | None:
    value = req.params.get(name)
    if value is not None and value not in choices:
        raise _bad_parameter(name, f"{name} must be one of {', '.join(choices)}")
    return value


def query_time(req: func.HttpRequest, name: str) -> datetime | None:
    value = req.params.get(name)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
        utc_text(moment)  # a time UTC cannot hold (year 1 at +01:00) is as wrong as a typo
    except (ValueError, OverflowError) as error:
        detail = f"{name} must be an ISO 8601 date-time, e.g. 2026-01-31T08:00:00Z"
        raise _bad_parameter(name, detail) from error
    return moment


@contextmanager
def invalid_query() -> Iterator[None]:
    try:
        yield
    except InvalidQuery as error:
        raise _bad_parameter(error.parameter, error.detail) from error


def _bad_parameter(name: str, detail: str) -> ProblemError:
    return ProblemError("invalid-request", detail, [FieldProblem(detail=detail, parameter=name)])


# --- cancelling a saga (admin) --------------------------------------------------------------

# Set by App Service authentication, which strips it from incoming requests, so only the
# platform can set it there; without that module it is whatever the admin-key holder sends.
# https://learn.microsoft.com/azure/app-service/configure-authentication-user-identities
PRINCIPAL_NAME = "x-ms-client-principal-name"


@endpoint(api.CANCEL_QUOTE)
def cancel_quote(req: func.HttpRequest) -> Reply:
    quote_id = route_id(req, "quoteId")
    request = json_body(req, api.CancelRequest)
    app = services()
    if app.quotes.view(quote_id) is None:
        raise not_found(f"quote {quote_id}")
    requested_by = request.requestedBy or _principal(req)
    app.orchestrator.cancel(quote_id, request.reason, requested_by, traceparent_of(req))
    shown = app.quotes.view(quote_id)  # quotes are never deleted: it is there, cancelling
    quote, saga = api.quote_body(shown), api.saga_body(shown)
    return Reply(202, api.CancelAccepted(quote=quote, saga=saga), quote_id)


def _principal(req: func.HttpRequest) -> str:
    name = (req.headers.get(PRINCIPAL_NAME) or "").strip()[:MAX_OPERATOR].strip()
    return name or "operator"


# --- the contract and everything else -------------------------------------------------------


@endpoint(api.GET_OPENAPI)
def get_openapi(req: func.HttpRequest) -> Reply:
    return Reply(200, api.document())


@endpoint(api.CATCH_ALL)
def unknown_route(req: func.HttpRequest) -> Reply:
    """The host routes here what no other route takes, including a known route with a method
    it does not have (route templates are tried in precedence order, catch-all last)."""
    path = req.route_params.get("path") or ""
    allowed = sorted({op.method for op in api.OPERATIONS if op.matches(path)})
    if allowed and req.method.upper() not in allowed:
        raise ProblemError(
            "method-not-allowed",
            f"{req.method.upper()} is not allowed here; use {', '.join(allowed)}",
            headers={"Allow": ", ".join(allowed)},
        )
    raise ProblemError("not-found", f"no route /api/{path.strip('/')}")
