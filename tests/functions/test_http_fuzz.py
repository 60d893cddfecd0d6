"""Requests generated from the OpenAPI document's own schemas (valid, broken and arbitrary)
against the real entry points: never a 5xx, every error a problem, every 2xx as declared."""

from __future__ import annotations

import json
import string
from typing import Any

import azure.functions as func
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

import bootstrap
from application.ports import DeadLetter
from bootstrap import Services, Settings, build_adapters
from domain.messages import ID_PATTERN, ApproveQuote
from domain.registry import command_category, make_command
from tests.functions.conftest import MEMORY
from tests.support.builders import ACCEPTED_PREMIUM
from tests.support.world import FakeClock
from triggers import openapi

pytestmark = pytest.mark.functions

DOCUMENT = json.loads(json.dumps(openapi.document()))
OPERATIONS = [
    (path, method, spec) for path, ops in DOCUMENT["paths"].items() for method, spec in ops.items()
]
KNOWN_IDS = ["Q-new", "Q-approved", "Q-done", "C1", "L-ok", "L-broken"]
FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# --- strategies from JSON Schema -----------------------------------------------------------


def mostly(usual: st.SearchStrategy[Any], other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`usual` three times in four (st.one_of leaves the weighting to the engine)."""
    return st.integers(0, 3).flatmap(lambda i: other if i == 0 else usual)


json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=3),
    max_leaves=8,
)  # fmt: skip


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values valid against `schema`: the subset of JSON Schema our models produce."""
    if "$ref" in schema:
        return from_schema(DOCUMENT["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]])
    if "anyOf" in schema:
        return st.one_of([from_schema(s) for s in schema["anyOf"]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    match schema.get("type"):
        case "string" if "pattern" in schema:
            fresh = st.from_regex(schema["pattern"], fullmatch=True)
            if schema["pattern"] != ID_PATTERN:  # a premium's: no known id matches it
                return fresh
            return mostly(st.sampled_from(KNOWN_IDS), fresh)
        case "string":
            return st.text(max_size=20)
        case "number":
            low = schema.get("exclusiveMinimum")
            return st.floats(min_value=low, exclude_min=low is not None, allow_nan=False,
                             allow_infinity=False)  # fmt: skip
        case "integer":
            return st.integers(schema.get("minimum"), schema.get("maximum"))
        case "object":
            return _object(schema)
        case "null":
            return st.none()
        case _:
            return json_values


def _object(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    required = set(schema.get("required", []))
    props = schema.get("properties", {})
    return st.fixed_dictionaries(
        {k: from_schema(v) for k, v in props.items() if k in required},
        optional={k: from_schema(v) for k, v in props.items() if k not in required},
    )


@st.composite
def broken(draw: st.DrawFn, valid: st.SearchStrategy[Any]) -> Any:
    """A valid value with one thing wrong: a field dropped, added or given any JSON value."""
    value = draw(valid)
    if not isinstance(value, dict) or not value:
        return draw(json_values)
    key = draw(st.sampled_from(sorted(value)))
    match draw(st.sampled_from(["drop", "add", "replace"])):
        case "drop":
            return {k: v for k, v in value.items() if k != key}
        case "add":
            return {**value, draw(st.text(string.ascii_letters, min_size=1, max_size=8)): 1}
        case _:
            return {**value, key: draw(json_values)}


def body_bytes(schema: dict[str, Any] | None) -> st.SearchStrategy[bytes]:
    if schema is None:
        return st.just(b"") | st.binary(max_size=40)
    valid = from_schema(schema)
    values = valid | broken(valid) | json_values
    encoded = values.map(lambda v: json.dumps(v, allow_nan=True).encode())
    return encoded | st.binary(max_size=60)


def parameter(spec: dict[str, Any]) -> st.SearchStrategy[str]:
    return mostly(from_schema(spec["schema"]).map(str), st.text(max_size=70))


@st.composite
def requests(draw: st.DrawFn, path: str, method: str, spec: dict[str, Any]) -> func.HttpRequest:
    params = {p["name"]: draw(parameter(p)) for p in spec["parameters"] if p["in"] == "path"}
    query = {p["name"]: draw(parameter(p)) for p in spec["parameters"] if p["in"] == "query"}
    query = {k: v for k, v in query.items() if draw(st.booleans())}
    body_schema = spec.get("requestBody", {}).get("content", {}).get("application/json", {})
    content_type = draw(mostly(st.just("application/json"), st.sampled_from(["text/plain", ""])))
    url = "http://localhost/api" + path.format(**dict.fromkeys(params, "x"))
    return func.HttpRequest(
        method.upper(),
        url,
        headers={"Content-Type": content_type} if content_type else {},
        params=query,
        route_params=params,
        body=draw(body_bytes(body_schema.get("schema"))),
    )


# --- the world each example starts from ----------------------------------------------------


def seeded_services() -> Services:
    app = Services(Settings(MEMORY), build_adapters(Settings(MEMORY)), clock=FakeClock())
    bootstrap.install(app)
    app.quotes.create("C1", ACCEPTED_PREMIUM, "Q-new")
    for quote_id in ("Q-approved", "Q-done"):
        app.quotes.create("C1", ACCEPTED_PREMIUM, quote_id)
        app.quotes.approve(quote_id)
    settle(app)
    app.quotes.approve("Q-approved")
    command = make_command(ApproveQuote(quoteId="Q-new"), command_id="c1", correlation_id="Q-new",
                           causation_id="t", issued_at=app.clock())  # fmt: skip
    for letter_id, payload in (("L-ok", command.model_dump_json()), ("L-broken", "not json")):
        app.adapters.dead_letters.put(DeadLetter(
            id=letter_id, source="command", origin="quote-commands", reason="t", payload=payload,
            receivedAt=app.clock(),
        ))  # fmt: skip
    return app


def settle(app: Services) -> None:
    position = 0
    while True:
        new = app.adapters.store.read_all(position, 10**6)
        position = new[-1][0] if new else position
        app.orchestrator.process_documents([e.to_document() for _, e in new])
        commands = app.adapters.publisher.drain()
        if not commands:
            return
        for command in commands:
            inbox = app.inbox(command_category(command.commandType))
            inbox.receive([command.model_dump_json()])


@pytest.fixture
def restore_services():
    previous = bootstrap.install(None)
    yield
    bootstrap.install(previous)


# --- checks --------------------------------------------------------------------------------


def conforms(response: func.HttpResponse, declared: dict[str, Any]) -> None:
    status = str(response.status_code)
    event(f"status {status}")
    assert response.status_code < 500, response.get_body()
    assert status in declared, f"{status} not declared: {response.get_body()!r}"
    [(media_type, content)] = declared[status]["content"].items()
    assert response.mimetype == media_type
    schema = {**content["schema"], "components": DOCUMENT["components"]}
    if media_type == "text/html":  # the console page
        Draft202012Validator(schema).validate(response.get_body().decode())
        return
    body = json.loads(response.get_body())
    Draft202012Validator(schema).validate(body)
    if response.status_code >= 400:
        assert body["status"] == response.status_code


def test_the_component_schemas_are_valid_json_schema():
    for schema in DOCUMENT["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize(("path", "method", "spec"), OPERATIONS,
                         ids=[spec["operationId"] for _, _, spec in OPERATIONS])  # fmt: skip
@FUZZ
@given(data=st.data())
def test_generated_requests_get_declared_answers_and_never_a_server_error(
    functions, restore_services, path, method, spec, data
):
    request = data.draw(requests(path, method, spec))
    seeded_services()
    conforms(functions[spec["operationId"]].get_user_function()(request), spec["responses"])


PROBLEM = {"schema": {"$ref": "#/components/schemas/Problem"}}
PROBLEM_ONLY = {
    status: {"content": {"application/problem+json": PROBLEM}} for status in ("404", "405")
}


@FUZZ
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]),
    path=st.lists(st.sampled_from(["quotes", "Q1", "approve", "customers", "deadletters", "x"])
                  | st.text(max_size=10), max_size=4).map("/".join),
)  # fmt: skip
def test_whatever_reaches_the_catch_all_is_a_404_or_405_problem(functions, path, method):
    request = func.HttpRequest(method, f"http://localhost/api/{path}", route_params={"path": path},
                               body=b"")  # fmt: skip
    conforms(functions["unknown_route"].get_user_function()(request), PROBLEM_ONLY)
