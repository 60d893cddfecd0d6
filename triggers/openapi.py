"""The HTTP contract: request and response models, the operations (route, method, auth level,
responses) the handlers are registered from, and the OpenAPI 3.1 document built from both, so
the document cannot drift from what is served."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

import azure.functions as func
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from application.ports import DeadLetter
from application.quotes import CustomerQuotes, ShownQuote
from application.sagas import DEFAULT_PAGE, MAX_PAGE, SagaPage, SagaTotals
from domain.messages import ID_PATTERN, Identifier, NewPremium, Premium
from domain.quote import QuoteStatus
from domain.saga import SagaStatus
from domain.saga_events import CancelReason, Operator
from triggers.problems import PROBLEM_JSON, Problem

MAX_BODY_BYTES = 64 * 1024
MAX_LIST_LIMIT = 1000

# --- requests --------------------------------------------------------------------------------


class CreateQuoteRequest(BaseModel):
    """Strict: no string-to-number coercion, no unknown fields."""

    model_config = ConfigDict(strict=True, extra="forbid")

    quoteId: Identifier | None = Field(
        None, description="Client-chosen id: repeating the request is then safe (idempotent)."
    )
    customerId: Identifier
    premium: NewPremium = Field(
        description='A string such as "120.50" (a JSON number is still read, as written).'
    )


# --- responses -------------------------------------------------------------------------------


class Reply(BaseModel):
    model_config = ConfigDict(extra="ignore")


class QuoteBody(Reply):
    """The quote."""

    quoteId: str
    customerId: str
    premium: Premium = Field(description='A decimal string such as "120.50".')
    status: QuoteStatus
    policyId: str | None = None
    rejectionReason: str | None = None


class SagaBody(Reply):
    """The quote's saga: status, the step it waits on, its deadline."""

    status: SagaStatus
    step: str | None = None
    deadline: datetime | None = None
    policyId: str | None = None
    version: int = 0
    projected: bool = Field(
        True, description="false: the read model has not caught up; this is the expected state."
    )


class TimelineEntry(Reply):
    """One stored event of the quote's saga, in time order."""

    eventId: str
    eventType: str
    streamId: str
    sequenceNumber: int
    timestamp: datetime
    reason: str | None = None


class QuoteView(Reply):
    """The quote with its saga and timeline (one read-model document)."""

    quote: QuoteBody
    saga: SagaBody | None = None
    timeline: list[TimelineEntry] = []


class ApprovalAccepted(Reply):
    """The approved quote and its saga's status as far as known."""

    quote: QuoteBody
    saga: SagaBody


class CustomerBody(Reply):
    """A customer's active policies."""

    customerId: str
    policyCount: int
    policies: list[str]


class DeadLetterList(Reply):
    """Parked messages."""

    items: list[DeadLetter] = Field(description="Most recent first.")


class HtmlPage(Reply):
    """An HTML page (text/html)."""


class OpenApiDocument(Reply):
    """An OpenAPI 3.1 document."""

    model_config = ConfigDict(extra="allow", title="OpenApiDocument")
    openapi: str


# --- the quote's view as these bodies show it --------------------------------------------------


def quote_body(shown: ShownQuote) -> QuoteBody:
    """The quote of a typed view (read by attribute: the view's own fields are not shown)."""
    return QuoteBody.model_validate(shown.quote, from_attributes=True)


def saga_body(shown: ShownQuote) -> SagaBody:
    """The saga of a typed view, which has one (an approved or cancelled quote)."""
    saga = shown.saga
    if saga is None:
        raise ValueError("the quote's view has no saga")
    return SagaBody(
        status=saga.status,
        step=saga.step,
        deadline=saga.deadline,
        policyId=saga.policyId,
        version=saga.version,
        projected=shown.projected,
    )


def quote_view(shown: ShownQuote) -> QuoteView:
    return QuoteView(
        quote=quote_body(shown),
        saga=saga_body(shown) if shown.saga else None,
        timeline=[TimelineEntry.model_validate(e, from_attributes=True) for e in shown.timeline],
    )


# --- operations ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    name: str  # the Functions function name
    method: str
    route: str  # relative to the host's route prefix, /api
    summary: str
    ok: dict[int, type[BaseModel]]
    errors: tuple[int, ...]
    body: type[BaseModel] | None = None
    auth: func.AuthLevel = func.AuthLevel.FUNCTION
    query: tuple[dict[str, Any], ...] = ()
    headers: dict[int, dict[str, Any]] = field(default_factory=dict)
    media_type: str = "application/json"  # of its 2xx answers

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.route)

    def matches(self, path: str) -> bool:
        """Whether a request path (after /api/) is this operation's route (case-insensitive)."""
        want, got = self.route.lower().split("/"), path.strip("/").lower().split("/")
        return len(want) == len(got) and all(
            (w.startswith("{") and g) or w == g for w, g in zip(want, got, strict=True)
        )


LOCATION = {"Location": {"schema": {"type": "string"}, "description": "/api/quotes/{quoteId}"}}
STORE = (500, 503)  # every route that reads or writes the stores

CREATE_QUOTE = Operation(
    "create_quote",
    "POST",
    "quotes",
    "Create a quote (idempotent with a client quoteId)",
    {201: QuoteBody, 200: QuoteBody},
    (400, 409, 413, 415, *STORE),
    body=CreateQuoteRequest,
    headers={201: LOCATION, 200: LOCATION},
)
APPROVE_QUOTE = Operation(
    "approve_quote",
    "POST",
    "quotes/{quoteId}/approve",
    "Approve a quote: starts its saga",
    {202: ApprovalAccepted},
    (400, 404, 409, *STORE),
)
GET_QUOTE = Operation(
    "get_quote",
    "GET",
    "quotes/{quoteId}",
    "A quote, its saga's status and timeline",
    {200: QuoteView},
    (400, 404, *STORE),
)
GET_CUSTOMER = Operation(
    "get_customer",
    "GET",
    "customers/{customerId}",
    "A customer's active policies",
    {200: CustomerBody},
    (400, 404, *STORE),
)
LIST_DEAD_LETTERS = Operation(
    "list_dead_letters",
    "GET",
    "deadletters",
    "Parked messages, most recent first",
    {200: DeadLetterList},
    (400, *STORE),
    auth=func.AuthLevel.ADMIN,
    query=(
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIST_LIMIT, "default": 100},
        },
        {
            "name": "correlationId",
            "in": "query",
            "required": False,
            "description": "Only the letters of this quote.",
            "schema": {"type": "string", "pattern": ID_PATTERN},
        },
        {
            "name": "state",
            "in": "query",
            "required": False,
            "description": "open: not replayed yet; replayed: closed by a successful replay.",
            "schema": {"type": "string", "enum": ["open", "replayed"]},
        },
    ),
)
REPLAY_DEAD_LETTER = Operation(
    "replay_dead_letter",
    "POST",
    "deadletters/{letterId}/replay",
    "Replay a parked message",
    {200: DeadLetter},
    (400, 404, 409, *STORE),
    auth=func.AuthLevel.ADMIN,
)

# --- operating the sagas (issue 12): list, count, a customer's quotes ----------------------


def _param(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema}  # fmt: skip


PAGE_PARAMS = (
    _param(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": DEFAULT_PAGE},
        "Items per page.",
    ),
    _param("continuation", {"type": "string"}, "The `continuation` of the page before."),
)
LIST_SAGAS = Operation(
    "list_sagas",
    "GET",
    "sagas",
    "Sagas, most recently started first, filtered and paged",
    {200: SagaPage},
    (400, *STORE),
    auth=func.AuthLevel.ADMIN,
    query=(
        _param(
            "status",
            {"type": "string", "enum": [s.value for s in SagaStatus]},
            "Only sagas in this status.",
        ),
        _param(
            "stuck",
            {"type": "boolean"},
            "true: only sagas not ended whose step's deadline has passed.",
        ),
        _param(
            "customerId", {"type": "string", "pattern": ID_PATTERN}, "Only this customer's sagas."
        ),
        _param(
            "createdFrom",
            {"type": "string", "format": "date-time"},
            "Only sagas started at or after this time (no offset: UTC).",
        ),
        _param(
            "createdTo",
            {"type": "string", "format": "date-time"},
            "Only sagas started at or before this time (no offset: UTC).",
        ),
        *PAGE_PARAMS,
    ),
)
SAGA_SUMMARY = Operation(
    "saga_summary",
    "GET",
    "sagas/summary",
    "How many sagas are in each status, and how many are stuck",
    {200: SagaTotals},
    STORE,
    auth=func.AuthLevel.ADMIN,
)
CUSTOMER_QUOTES = Operation(
    "customer_quotes",
    "GET",
    "customers/{customerId}/quotes",
    "A customer's quotes and their sagas' statuses",
    {200: CustomerQuotes},
    (400, 404, *STORE),
    auth=func.AuthLevel.ADMIN,
    query=PAGE_PARAMS,
)
SAGA_OPERATIONS = (LIST_SAGAS, SAGA_SUMMARY, CUSTOMER_QUOTES)

# --- cancelling a saga (admin) --------------------------------------------------------------


class CancelRequest(BaseModel):
    """Why the saga is cancelled, and by whom. Strict: text only, no unknown fields."""

    model_config = ConfigDict(strict=True, extra="forbid")

    reason: CancelReason = Field(
        description="Why (trimmed; 1-500 characters): on the saga's events and the quote's "
        "rejection as `cancelled by {requestedBy}: {reason}`."
    )
    requestedBy: Operator | None = Field(
        None,
        description="Who (trimmed; 1-100 characters). Default: the signed-in caller "
        "(x-ms-client-principal-name, set by App Service authentication), else `operator`.",
    )


class CancelAccepted(Reply):
    """The quote and its saga, compensating what it did."""

    quote: QuoteBody
    saga: SagaBody


CANCEL_QUOTE = Operation(
    "cancel_quote",
    "POST",
    "quotes/{quoteId}/cancel",
    "Cancel a running saga: it undoes what it did and rejects the quote",
    {202: CancelAccepted},
    (400, 404, 409, 413, 415, *STORE),
    body=CancelRequest,
    auth=func.AuthLevel.ADMIN,
)

GET_OPENAPI = Operation(
    "get_openapi",
    "GET",
    "openapi.json",
    "This document",
    {200: OpenApiDocument},
    (500,),
    auth=func.AuthLevel.ANONYMOUS,
)
CONSOLE = Operation(
    "console",
    "GET",
    "console",
    "The operator console: one HTML page over the routes above (pass the admin key as ?code=)",
    {200: HtmlPage},
    (500,),
    auth=func.AuthLevel.ADMIN,
    media_type="text/html",
)
OPERATIONS = (
    CREATE_QUOTE, APPROVE_QUOTE, GET_QUOTE, GET_CUSTOMER,
    LIST_DEAD_LETTERS, REPLAY_DEAD_LETTER, CANCEL_QUOTE, *SAGA_OPERATIONS, GET_OPENAPI, CONSOLE,
)  # fmt: skip
# Unknown routes and wrong methods: answered 404/405 by a catch-all, not part of the contract.
CATCH_ALL = Operation("unknown_route", "*", "{*path}", "", {}, (404, 405),
                      auth=func.AuthLevel.ANONYMOUS)  # fmt: skip

# --- the document ----------------------------------------------------------------------------

ERROR_HEADERS = {
    405: {"Allow": {"schema": {"type": "string"}, "description": "the methods the route has"}},
    503: {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}},
}
ERROR_TEXT = {
    400: "Invalid request: malformed JSON, a wrong or missing field, an invalid id",
    404: "No such resource",
    405: "The route exists but not with this method",
    409: "Conflicts with the current state",
    413: f"The body is over {MAX_BODY_BYTES} bytes",
    415: "The body is not sent as application/json",
    500: "Unexpected error (logged with its request id; no details are returned)",
    503: "Storage or messaging is temporarily unavailable: retry after Retry-After seconds",
}
OK_TEXT = {200: "OK", 201: "Created", 202: "Accepted: the saga runs asynchronously"}


@cache
def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of OPERATIONS (schemas from the models above)."""
    models = {(m, "validation") for op in OPERATIONS if (m := op.body)}
    models |= {(m, "serialization") for op in OPERATIONS for m in op.ok.values()
               if op.media_type == "application/json"}  # fmt: skip
    models.add((Problem, "serialization"))
    refs, defs = models_json_schema(
        sorted(models, key=lambda pair: pair[0].__name__),
        ref_template="#/components/schemas/{model}",
    )
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault("/" + op.route, {})[op.method.lower()] = _operation(op, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Quoting saga",
            "version": "1.0.0",
            "description": "Create and approve insurance quotes; each approval runs a saga "
            "(create policy, count it on the customer) with compensation on failure.",
        },
        "servers": [{"url": "/api"}],
        "paths": paths,
        "components": {
            "schemas": defs["$defs"],
            "securitySchemes": {
                "functionKey": {
                    "type": "apiKey", "in": "header", "name": "x-functions-key",
                    "description": "A function key (admin routes: the host master key). "
                    "Without one the Functions host answers 401 itself, with an empty body.",
                },
                "functionKeyQuery": {"type": "apiKey", "in": "query", "name": "code"},
            },
        },
    }  # fmt: skip


def _operation(op: Operation, refs: dict[Any, Any]) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, model in op.ok.items():
        responses[str(status)] = {
            "description": f"{OK_TEXT[status]}: {model.__doc__.strip().splitlines()[0]}",
            "content": {op.media_type: {"schema": refs[(model, "serialization")]}}
            if op.media_type == "application/json"
            else {op.media_type: {"schema": {"type": "string"}}},
            **({"headers": op.headers[status]} if status in op.headers else {}),
        }
    for status in op.errors:
        responses[str(status)] = {
            "description": ERROR_TEXT[status],
            "content": {PROBLEM_JSON: {"schema": refs[(Problem, "serialization")]}},
            **({"headers": ERROR_HEADERS[status]} if status in ERROR_HEADERS else {}),
        }
    spec: dict[str, Any] = {
        "operationId": op.name,
        "summary": op.summary,
        "parameters": [
            {"name": p, "in": "path", "required": True,
             "schema": {"type": "string", "pattern": ID_PATTERN}}
            for p in op.path_params
        ] + list(op.query),
        "responses": responses,
        "security": [] if op.auth is func.AuthLevel.ANONYMOUS
        else [{"functionKey": []}, {"functionKeyQuery": []}],
        "x-auth-level": op.auth.name,
    }  # fmt: skip
    if op.body is not None:
        spec["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(op.body, "validation")]}},
        }
    return spec
