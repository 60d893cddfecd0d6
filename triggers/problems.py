"""RFC 9457 problem details: every error the HTTP API answers is `application/problem+json`,
with a `detail` that names what was wrong (and, for bad input, one entry per field)."""

from __future__ import annotations

from typing import Any

import azure.functions as func
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from application.ports import ConcurrencyConflict, TransientFailure
from domain.errors import DomainError, Unprocessable
from domain.messages import ID_RULE
from domain.money import PREMIUM_RULE

PROBLEM_JSON = "application/problem+json"
# Problem types are absolute, non-dereferenceable `tag:` URIs (RFC 9457 section 3.1.1).
TYPE_PREFIX = "tag:quoting-saga,2026:problems/"
RETRY_AFTER_SECONDS = 5

TITLES: dict[str, tuple[int, str]] = {
    "invalid-request": (400, "The request is not valid"),
    "invalid-json": (400, "The body is not well-formed JSON"),
    "not-found": (404, "Not found"),
    "method-not-allowed": (405, "Method not allowed"),
    "conflict": (409, "Conflict with the current state"),
    "still-unprocessable": (409, "The message still cannot be processed"),
    "payload-too-large": (413, "The body is too large"),
    "unsupported-media-type": (415, "Unsupported media type"),
    "internal-error": (500, "Internal error"),
    "unavailable": (503, "Temporarily unavailable"),
}


class FieldProblem(BaseModel):
    """One invalid input: `pointer` (JSON Pointer into the body) or `parameter` (path/query)."""

    model_config = ConfigDict(extra="forbid")

    detail: str
    pointer: str | None = None
    parameter: str | None = None


class Problem(BaseModel):
    """An RFC 9457 problem details document."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(description="URI identifying the problem type")
    title: str
    status: int = Field(ge=400, le=599)
    detail: str
    instance: str = Field(description="the request path")
    errors: list[FieldProblem] | None = None


class ProblemError(Exception):
    """Raised while parsing a request: answered as the problem it carries."""

    def __init__(
        self,
        kind: str,
        detail: str,
        errors: list[FieldProblem] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.kind, self.detail, self.errors, self.headers = kind, detail, errors, headers or {}


def response(
    kind: str,
    detail: str,
    instance: str,
    errors: list[FieldProblem] | None = None,
    headers: dict[str, str] | None = None,
) -> func.HttpResponse:
    status, title = TITLES[kind]
    problem = Problem(
        type=TYPE_PREFIX + kind,
        title=title,
        status=status,
        detail=detail,
        instance=instance,
        errors=errors,
    )
    return func.HttpResponse(
        problem.model_dump_json(exclude_none=True),
        status_code=status,
        headers=headers,
        mimetype=PROBLEM_JSON,
    )


def from_exception(error: Exception, instance: str) -> func.HttpResponse | None:
    """The problem for an error the API expects; None for an unexpected one (a 500)."""
    match error:
        case ProblemError():
            return response(error.kind, error.detail, instance, error.errors, error.headers)
        case DomainError():
            kind = {"not-found": "not-found", "conflict": "conflict"}.get(
                error.kind, "invalid-request"
            )
            return response(kind, error.detail, instance)
        case Unprocessable():  # stored data this code cannot read (not the request's fault)
            detail = f"the stored state cannot be read by this version of the app: {error}"
            return response("conflict", detail, instance)
        case TransientFailure() | ConcurrencyConflict():
            return response(
                "unavailable",
                "the service could not complete the request just now; retry after a moment",
                instance,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        case _:
            return None


def invalid_input(error: ValidationError, where: str = "body") -> ProblemError:
    """A pydantic ValidationError as a 400 that names each offending field."""
    errors = error.errors(include_url=False, include_input=False)
    if any(e["type"] == "json_invalid" for e in errors):
        return ProblemError("invalid-json", f"the body is not well-formed JSON: {errors[0]['msg']}")
    fields = [_field_problem(e, where) for e in errors]
    return ProblemError("invalid-request", "; ".join(f.detail for f in fields), fields)


def _field_problem(error: Any, where: str) -> FieldProblem:
    loc = [str(part) for part in error["loc"]]
    name = ".".join(loc) or where
    match error["type"]:
        case "missing":
            text = f"{name} is required"
        case "extra_forbidden":
            text = f"{name} is not a known field"
        case "model_type" | "dict_type":
            text = f"the {where} must be a JSON object"
        case "string_pattern_mismatch":  # the one pattern of the API: identifiers
            text = f"{name} must be {ID_RULE}"
        case _ if loc and loc[-1] == "premium":  # wrong type, text or amount: one rule
            text = f'{name} must be {PREMIUM_RULE}, written like "120.50"'
        case _:
            text = f"{name}: {error['msg']}"
    if where == "body":
        return FieldProblem(detail=text, pointer="#/" + "/".join(_escape(p) for p in loc))
    return FieldProblem(detail=text, parameter=name)


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")
