"""The HTTP API through its real entry points, called with real func.HttpRequest objects over
the in-memory services."""

from __future__ import annotations

import inspect
import json
import logging
import typing
from datetime import UTC, datetime

import azure.functions as func
import pytest

import bootstrap
from adapters.memory import InMemoryDeadLetterStore, InMemoryViewStore
from application.ports import ConcurrencyConflict, DeadLetter, TransientFailure
from bootstrap import Adapters, Services, Settings
from domain.messages import RejectQuote
from domain.money import PREMIUM_RULE
from domain.registry import command_category, make_command
from tests.functions.conftest import MEMORY
from tests.support.builders import ACCEPTED_PREMIUM, OVER_LIMIT_PREMIUM, accepted_premium
from tests.support.world import FakeClock
from triggers import openapi

pytestmark = pytest.mark.functions

ACCEPTED = str(ACCEPTED_PREMIUM)  # a premium every rule accepts, as the API writes it

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
JSON = {"Content-Type": "application/json"}


def call(functions, name, method, path, *, body=b"", headers=None, params=None, route=None):
    request = func.HttpRequest(
        method,
        f"http://localhost:7071{path}",
        headers=headers or {},
        params=params or {},
        route_params=route or {},
        body=body,
    )
    return functions[name].get_user_function()(request)


def create(functions, payload, headers=None):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return call(functions, "create_quote", "POST", "/api/quotes", body=body,
                headers={**JSON, **(headers or {})})  # fmt: skip


def approve(functions, quote_id, headers=None):
    path = f"/api/quotes/{quote_id}/approve"
    return call(functions, "approve_quote", "POST", path, headers=headers,
                route={"quoteId": quote_id})  # fmt: skip


def get_quote(functions, quote_id):
    path = f"/api/quotes/{quote_id}"
    return call(functions, "get_quote", "GET", path, route={"quoteId": quote_id})


def body_of(response):
    return json.loads(response.get_body())


def assert_problem(response, status, *words):
    assert response.status_code == status, response.get_body()
    assert response.mimetype == "application/problem+json"
    problem = body_of(response)
    assert problem["status"] == status
    assert problem["type"].startswith("tag:quoting-saga")
    assert {"title", "detail", "instance"} <= problem.keys()
    for word in words:
        assert word in problem["detail"], problem
    return problem


def events(app_services):
    return [e for _, e in app_services.adapters.store.read_all(0, 10**6)]


def project(app_services, after=0):
    """What the orchestrator's change-feed trigger does with the new events."""
    new = app_services.adapters.store.read_all(after, 10**6)
    app_services.orchestrator.process_documents([e.to_document() for _, e in new])
    return new[-1][0] if new else after


def run_saga(app_services):
    """Deliver feed and hubs until quiet: the saga runs to its end."""
    position = 0
    while True:
        position = project(app_services, position)
        commands = app_services.adapters.publisher.drain()
        if not commands:
            return
        for command in commands:
            category = command_category(command.commandType)
            app_services.inbox(category).receive([command.model_dump_json().encode()])


# --- creating ------------------------------------------------------------------------------


def test_creating_a_quote_answers_201_with_the_quote_and_where_to_find_it(functions, app_services):
    response = create(functions, {"quoteId": "Q1", "customerId": "C1", "premium": ACCEPTED})
    assert response.status_code == 201
    assert response.mimetype == "application/json"
    assert response.headers["Location"] == "/api/quotes/Q1"
    assert body_of(response) == {
        "quoteId": "Q1", "customerId": "C1", "premium": ACCEPTED, "status": "Created",
        "policyId": None, "rejectionReason": None,
    }  # fmt: skip


def test_creating_the_same_quote_again_answers_200_and_appends_nothing(functions, app_services):
    payload = {"quoteId": "Q1", "customerId": "C1", "premium": ACCEPTED}
    first = create(functions, payload)
    before = len(events(app_services))
    again = create(functions, payload)
    assert (first.status_code, again.status_code) == (201, 200)
    assert body_of(again) == body_of(first)
    assert again.headers["Location"] == "/api/quotes/Q1"
    assert len(events(app_services)) == before


def test_creating_a_known_quote_id_with_other_terms_is_a_409(functions, app_services):
    create(functions, {"quoteId": "Q1", "customerId": "C1", "premium": ACCEPTED})
    response = create(
        functions, {"quoteId": "Q1", "customerId": "C1", "premium": str(ACCEPTED_PREMIUM + 1)}
    )
    assert_problem(response, 409, "Q1")


def test_a_quote_without_an_id_gets_one_from_the_server(functions, app_services):
    response = create(functions, {"customerId": "C1", "premium": ACCEPTED})
    quote_id = body_of(response)["quoteId"]
    assert response.status_code == 201
    assert response.headers["Location"] == f"/api/quotes/{quote_id}"
    assert get_quote(functions, quote_id).status_code == 200


def test_the_callers_traceparent_flows_into_the_stored_events(functions, app_services):
    create(functions, {"quoteId": "Q1", "customerId": "C1", "premium": ACCEPTED},
           {"traceparent": TRACEPARENT})  # fmt: skip
    approve(functions, "Q1", {"traceparent": TRACEPARENT})
    assert [e.traceparent for e in events(app_services)] == [TRACEPARENT, TRACEPARENT]


def test_a_malformed_traceparent_is_ignored_not_stored(functions, app_services):
    create(functions, {"quoteId": "Q1", "customerId": "C1", "premium": ACCEPTED},
           {"traceparent": "not-a-trace"})  # fmt: skip
    assert [e.traceparent for e in events(app_services)] == [None]


def test_each_request_logs_one_line_with_the_quote_id_as_correlation_id(
    functions, app_services, caplog
):
    caplog.set_level(logging.INFO, logger="quoting.http")
    create(functions, {"customerId": "C1", "premium": ACCEPTED})
    [record] = [r for r in caplog.records if r.name == "quoting.http"]
    quote_id = body_of(get_quote(functions, record.correlationId))["quote"]["quoteId"]
    assert record.correlationId == quote_id
    assert record.statusCode == 201


# --- bad input -----------------------------------------------------------------------------

P = json.dumps(ACCEPTED).encode()  # in bodies whose subject is another field
RULE = f"premium must be {PREMIUM_RULE}"

BAD_BODIES = {
    "malformed JSON": (b'{"customerId": "C1",', "JSON", None),
    "not an object": (b"[1, 2]", "object", ""),
    "premium as a boolean": (b'{"customerId": "C1", "premium": true}', "premium", "premium"),
    "customerId as a number": (b'{"customerId": 7, "premium": %s}' % P, "customerId", "customerId"),
    "missing customerId": (b'{"premium": %s}' % P, "customerId is required", "customerId"),
    "missing premium": (b'{"customerId": "C1"}', "premium is required", "premium"),
    "unknown field": (b'{"customerId": "C1", "premium": %s, "colour": "red"}' % P, "colour",
                      "colour"),
    "id with a slash": (b'{"quoteId": "a/b", "customerId": "C1", "premium": %s}' % P, "quoteId",
                        "quoteId"),
    "id too long": (json.dumps({"quoteId": "q" * 65, "customerId": "C", "premium": ACCEPTED})
                    .encode(), "quoteId", "quoteId"),
    "empty customerId": (b'{"customerId": "", "premium": %s}' % P, "customerId", "customerId"),
    "zero premium": (b'{"customerId": "C1", "premium": 0}', RULE, "premium"),
    "negative premium": (b'{"customerId": "C1", "premium": -5}', RULE, "premium"),
    "negative premium text": (b'{"customerId": "C1", "premium": "-5"}', RULE, "premium"),
    "NaN premium": (b'{"customerId": "C1", "premium": NaN}', RULE, "premium"),
    "Infinity premium": (b'{"customerId": "C1", "premium": Infinity}', RULE, "premium"),
    "overflowing premium": (b'{"customerId": "C1", "premium": 1e400}', RULE, "premium"),
    "premium of three places": (b'{"customerId": "C1", "premium": "10.001"}', RULE, "premium"),
    "premium number of three places": (b'{"customerId": "C1", "premium": 10.001}', RULE,
                                       "premium"),
    "premium with an exponent": (b'{"customerId": "C1", "premium": "1e3"}', RULE, "premium"),
    "premium not a number": (b'{"customerId": "C1", "premium": "ten"}', RULE, "premium"),
    "premium over the maximum": (b'{"customerId": "C1", "premium": "1000000000000"}', RULE,
                                 "premium"),
    "empty body": (b"", "JSON", None),
    "not UTF-8": (b'{"customerId": "\xff", "premium": %s}' % P, "JSON", None),
}  # fmt: skip


@pytest.mark.parametrize(("body", "words", "field"), BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_a_bad_body_is_a_400_problem_naming_the_field(functions, app_services, body, words, field):
    problem = assert_problem(create(functions, body), 400, words)
    if field:
        assert {"pointer": f"#/{field}"}.items() <= problem["errors"][0].items()
    assert events(app_services) == []


def test_a_body_over_64_kb_is_a_413(functions, app_services):
    body = json.dumps({"customerId": "C1", "premium": ACCEPTED, "pad": "x" * 65_536}).encode()
    assert_problem(create(functions, body), 413, "65536")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_body_that_is_not_json_by_content_type_is_a_415(functions, app_services, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    response = call(functions, "create_quote", "POST", "/api/quotes", headers=headers,
                    body=b'{"customerId": "C1", "premium": ACCEPTED}')  # fmt: skip
    assert_problem(response, 415, "application/json")


def test_json_with_a_charset_or_a_json_suffix_type_is_accepted(functions, app_services):
    for i, content_type in enumerate(["application/json; charset=utf-8", "application/x+json"]):
        response = call(functions, "create_quote", "POST", "/api/quotes",
                        headers={"Content-Type": content_type},
                        body=b'{"customerId": "C1", "premium": "%s"}'
                        % str(accepted_premium(i)).encode())  # fmt: skip
        assert response.status_code == 201


ROUTE_IDS = [
    ("get_quote", "GET", "quoteId"),
    ("approve_quote", "POST", "quoteId"),
    ("get_customer", "GET", "customerId"),
    ("replay_dead_letter", "POST", "letterId"),
]


@pytest.mark.parametrize("bad_id", ["a b", "q" * 65, "é", ""])
@pytest.mark.parametrize(("name", "method", "param"), ROUTE_IDS)
def test_a_route_id_outside_the_id_pattern_is_a_400_naming_it(
    functions, app_services, name, method, param, bad_id
):
    response = call(functions, name, method, "/api/x", route={param: bad_id})
    problem = assert_problem(response, 400, param)
    assert problem["errors"] == [{"detail": problem["detail"], "parameter": param}]


# --- approving and reading -----------------------------------------------------------------


def test_approving_answers_202_with_the_saga_pending_until_it_is_projected(functions, app_services):
    create(functions, {"quoteId": "Q1", "customerId": "C1", "premium": ACCEPTED})
    response = approve(functions, "Q1")
    assert response.status_code == 202
    body = body_of(response)
    assert body["quote"]["status"] == "Approved"
    assert body["saga"] == {
        "status": "Running", "step": "CreatePolicy", "deadline": None, "policyId": None,
        "version": 0, "projected": False,
    }  # fmt: skip


def test_approving_twice_answers_202_and_nothing_new_happens(functions, app_services):
    create(functions, {"quoteId": "Q1", "customerId": "C1", "premium": ACCEPTED})
    approve(functions, "Q1")
    project(app_services)
    before, published = events(app_services), app_services.adapters.publisher.drain()
    again = approve(functions, "Q1")
    assert again.status_code == 202
    assert body_of(again)["saga"]["projected"] is True
    assert body_of(again)["saga"]["step"] == "CreatePolicy"
    assert events(app_services) == before
    assert app_services.adapters.publisher.drain() == []
    assert len(published) == 1


def test_approving_an_unknown_quote_is_a_404(functions, app_services):
    assert_problem(approve(functions, "nope"), 404, "nope")


def test_approving_a_rejected_quote_is_a_409(functions, app_services):
    create(functions, {"quoteId": "Q1", "customerId": "C1", "premium": ACCEPTED})
    reject = make_command(RejectQuote(quoteId="Q1", reason="declined"), command_id="r1",
                          correlation_id="Q1", causation_id="test",
                          issued_at=datetime(2026, 1, 1, tzinfo=UTC))  # fmt: skip
    app_services.commands.handle(reject)
    assert_problem(approve(functions, "Q1"), 409, "rejected")


def test_reading_a_quote_before_projection_shows_the_quote_without_saga(functions, app_services):
    create(functions, {"quoteId": "Q1", "customerId": "C1", "premium": ACCEPTED})
    body = body_of(get_quote(functions, "Q1"))
    assert body["quote"]["status"] == "Created"
    assert (body["saga"], body["timeline"]) == (None, [])


def test_reading_a_quote_after_the_orchestrator_ran_shows_its_saga_and_timeline(
    functions, app_services
):
    create(functions, {"quoteId": "Q1", "customerId": "C1", "premium": ACCEPTED})
    approve(functions, "Q1")
    project(app_services)
    response = get_quote(functions, "Q1")
    assert response.status_code == 200
    body = body_of(response)
    assert body["quote"]["status"] == "Approved"
    assert body["saga"]["status"] == "Running"
    assert body["saga"]["step"] == "CreatePolicy"
    assert body["saga"]["projected"] is True
    assert [e["eventType"] for e in body["timeline"]][:2] == ["QuoteCreated", "QuoteApproved"]


def test_a_completed_saga_shows_the_policy_on_the_quote_and_the_customer(functions, app_services):
    create(functions, {"quoteId": "Q1", "customerId": "C1", "premium": ACCEPTED})
    approve(functions, "Q1")
    run_saga(app_services)
    body = body_of(get_quote(functions, "Q1"))
    assert body["saga"]["status"] == "Completed"
    policy_id = body["quote"]["policyId"]
    assert policy_id
    customer = call(functions, "get_customer", "GET", "/api/customers/C1",
                    route={"customerId": "C1"})  # fmt: skip
    assert customer.status_code == 200
    assert body_of(customer) == {"customerId": "C1", "policyCount": 1, "policies": [policy_id]}


def test_a_compensated_saga_shows_the_quote_rejected_and_its_approval_repeated_is_a_202(
    functions, app_services
):
    """The approval repeated (a client's retry after a lost answer) is the command already
    handled: answered as the first was, with the quote as it stands now, and nothing new."""
    create(functions, {"quoteId": "Q1", "customerId": "C1", "premium": str(OVER_LIMIT_PREMIUM)})
    approve(functions, "Q1")
    run_saga(app_services)
    body = body_of(get_quote(functions, "Q1"))
    assert body["saga"]["status"] == "Compensated"
    assert body["quote"]["status"] == "Rejected"
    assert body["quote"]["rejectionReason"]
    before = events(app_services)
    again = approve(functions, "Q1")
    assert again.status_code == 202
    assert body_of(again)["quote"]["status"] == "Rejected"
    assert body_of(again)["saga"]["status"] == "Compensated"
    assert events(app_services) == before
    assert app_services.adapters.publisher.drain() == []


def test_reading_an_unknown_quote_or_customer_is_a_404(functions, app_services):
    assert_problem(get_quote(functions, "Q404"), 404, "Q404")
    response = call(functions, "get_customer", "GET", "/api/customers/C404",
                    route={"customerId": "C404"})  # fmt: skip
    assert_problem(response, 404, "C404")


# --- dead letters --------------------------------------------------------------------------


def park(app_services, letter_id, payload, day):
    app_services.adapters.dead_letters.put(DeadLetter(
        id=letter_id, source="command", origin="quote-commands", reason="test",
        payload=payload, receivedAt=datetime(2026, 1, day, tzinfo=UTC),
    ))  # fmt: skip


def test_dead_letters_are_listed_most_recent_first_up_to_the_limit(functions, app_services):
    for day in (1, 3, 2):
        park(app_services, f"L{day}", "{}", day)
    response = call(functions, "list_dead_letters", "GET", "/api/deadletters",
                    params={"limit": "2"})  # fmt: skip
    assert response.status_code == 200
    assert [letter["id"] for letter in body_of(response)["items"]] == ["L3", "L2"]


@pytest.mark.parametrize("limit", ["0", "-1", "abc", "1.5", "1001", "³²", "\u0661\u0660"])
def test_a_dead_letter_limit_out_of_range_is_a_400(functions, app_services, limit):
    response = call(functions, "list_dead_letters", "GET", "/api/deadletters",
                    params={"limit": limit})  # fmt: skip
    assert_problem(response, 400, "limit")


def replay(functions, letter_id):
    return call(functions, "replay_dead_letter", "POST", f"/api/deadletters/{letter_id}/replay",
                route={"letterId": letter_id})  # fmt: skip


def deliver(app_services, command):
    """The command as its hub's handler receives it (refused commands are parked there)."""
    body = command if isinstance(command, bytes) else command.model_dump_json().encode()
    app_services.inbox(command_category(json.loads(body)["commandType"])).receive([body])


def reject_q1(command_id="reject-1"):
    return make_command(RejectQuote(quoteId="Q1", reason="x"), command_id=command_id,
                        correlation_id="Q1", causation_id="t",
                        issued_at=datetime(2026, 1, 1, tzinfo=UTC))  # fmt: skip


# CreatePolicy refuses a premium of -1: built by hand, since make_command validates.
NEGATIVE_PREMIUM = json.dumps({
    "commandId": "create-policy-1", "commandType": "CreatePolicy", "aggregateId": "P1",
    "correlationId": "Q1", "causationId": "t", "issuedAt": "2026-01-01T00:00:00Z",
    "data": {"policyId": "P1", "quoteId": "Q1", "customerId": "C1", "premium": -1},
}).encode()  # fmt: skip


@pytest.mark.parametrize("refused", [reject_q1(), NEGATIVE_PREMIUM], ids=["no-quote", "premium"])
def test_replaying_a_command_still_refused_is_a_409_on_the_same_letter_with_the_new_reason(
    functions, app_services, refused
):
    deliver(app_services, refused)
    [parked] = app_services.adapters.dead_letters.list()
    reasons = [parked.reason]
    for _ in range(2):
        problem = assert_problem(replay(functions, parked.id), 409, parked.id, "unprocessable")
        assert problem["type"].endswith("/still-unprocessable")
        [letter] = app_services.adapters.dead_letters.list()
        assert (letter.id, letter.payload, letter.replayedAt) == (parked.id, parked.payload, None)
        assert "refused again on replay" in letter.reason
        reasons.append(letter.reason)
    assert len(set(reasons)) == 3  # each refusal's reason recorded, none dropped
    assert app_services.adapters.store.read_all(0, 10**6) == []


def test_a_command_fixed_then_replayed_is_a_200_that_closes_its_letter_and_applies_once(
    functions, app_services
):
    deliver(app_services, reject_q1())
    [parked] = app_services.adapters.dead_letters.list()
    app_services.quotes.create("C1", ACCEPTED_PREMIUM, "Q1")  # the cause is fixed
    first = replay(functions, parked.id)
    assert first.status_code == 200
    replayed_at = body_of(first)["replayedAt"]
    assert replayed_at is not None
    again = replay(functions, parked.id)  # harmless: the letter is closed
    assert (again.status_code, body_of(again)) == (200, body_of(first))
    deliver(app_services, reject_q1())  # the hub redelivers the original: handled already
    stream = app_services.adapters.store.read_stream("quote-Q1")
    assert [e.eventType for e in stream] == ["QuoteCreated", "QuoteRejected"]
    [letter] = app_services.adapters.dead_letters.list()
    assert letter.replayedAt is not None


def test_a_command_parked_again_after_a_re_serialisation_is_still_one_letter(app_services):
    deliver(app_services, reject_q1())
    deliver(app_services, json.dumps(json.loads(reject_q1().model_dump_json()), indent=2).encode())
    assert len(app_services.adapters.dead_letters.list()) == 1


def test_replaying_an_unknown_or_unparseable_dead_letter_is_404_or_409(functions, app_services):
    park(app_services, "L1", "not a command", 1)
    assert_problem(replay(functions, "L9"), 404, "L9")
    assert_problem(replay(functions, "L1"), 409, "L1", "unparseable")
    [letter] = app_services.adapters.dead_letters.list()
    assert letter.replayedAt is None


# --- failures ------------------------------------------------------------------------------


class BrokenStore:
    """An event store whose every read fails with `error`."""

    def __init__(self, error):
        self.error = error

    def read_stream(self, stream_id, after=0):
        raise self.error

    def append(self, *args):
        raise self.error


@pytest.fixture
def broken_services():
    def install(error):
        adapters = Adapters(store=BrokenStore(error), publisher=None, views=InMemoryViewStore(),
                            dead_letters=InMemoryDeadLetterStore())  # fmt: skip
        bootstrap.install(Services(Settings(MEMORY), adapters, clock=FakeClock()))

    previous = bootstrap.install(None)
    yield install
    bootstrap.install(previous)


@pytest.mark.parametrize("error", [TransientFailure("down"), ConcurrencyConflict("busy")])
def test_an_infrastructure_failure_is_a_503_with_retry_after(functions, broken_services, error):
    broken_services(error)
    response = create(functions, {"quoteId": "Q1", "customerId": "C1", "premium": ACCEPTED})
    assert_problem(response, 503)
    assert int(response.headers["Retry-After"]) > 0


def test_an_unexpected_error_is_a_500_without_internals_and_logged_with_ids(
    functions, broken_services, caplog
):
    broken_services(RuntimeError("secret internals"))
    response = create(functions, {"quoteId": "Q1", "customerId": "C1", "premium": ACCEPTED},
                      {"traceparent": TRACEPARENT})  # fmt: skip
    problem = assert_problem(response, 500, "4bf92f3577b34da6a3ce929d0e0e4736")
    assert "secret" not in response.get_body().decode()
    assert "Traceback" not in response.get_body().decode()
    [failure] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert failure.exc_info is not None
    assert "4bf92f3577b34da6a3ce929d0e0e4736" in failure.getMessage()
    assert problem["instance"] == "/api/quotes"


# --- routes --------------------------------------------------------------------------------


def test_an_unknown_route_is_a_404_problem(functions, app_services):
    response = call(functions, "unknown_route", "GET", "/api/nothing/here",
                    route={"path": "nothing/here"})  # fmt: skip
    assert_problem(response, 404, "/api/nothing/here")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [("DELETE", "quotes/Q1", "GET"), ("GET", "quotes", "POST"), ("PUT", "deadletters", "GET"),
     ("GET", "quotes/Q1/approve", "POST")],
)  # fmt: skip
def test_a_known_route_with_a_wrong_method_is_a_405_with_allow(
    functions, app_services, method, path, allowed
):
    response = call(functions, "unknown_route", method, f"/api/{path}", route={"path": path})
    assert_problem(response, 405, method)
    assert response.headers["Allow"] == allowed


EXPECTED_ROUTES = {
    "create_quote": ("quotes", ["POST"], "FUNCTION"),
    "approve_quote": ("quotes/{quoteId}/approve", ["POST"], "FUNCTION"),
    "get_quote": ("quotes/{quoteId}", ["GET"], "FUNCTION"),
    "get_customer": ("customers/{customerId}", ["GET"], "FUNCTION"),
    "list_dead_letters": ("deadletters", ["GET"], "ADMIN"),
    "replay_dead_letter": ("deadletters/{letterId}/replay", ["POST"], "ADMIN"),
    "list_sagas": ("sagas", ["GET"], "ADMIN"),
    "saga_summary": ("sagas/summary", ["GET"], "ADMIN"),
    "customer_quotes": ("customers/{customerId}/quotes", ["GET"], "ADMIN"),
    "cancel_quote": ("quotes/{quoteId}/cancel", ["POST"], "ADMIN"),
    "get_openapi": ("openapi.json", ["GET"], "ANONYMOUS"),
    "console": ("console", ["GET"], "ADMIN"),
    "unknown_route": ("{*path}", None, "ANONYMOUS"),
}


def http_functions(functions):
    found = {}
    for name, function in functions.items():
        trigger = json.loads(function.get_function_json())["bindings"][0]
        if trigger["type"] == "httpTrigger":
            found[name] = (trigger["route"], trigger.get("methods"), trigger["authLevel"])
    return found


def test_every_http_function_has_its_route_methods_and_auth_level(functions):
    assert http_functions(functions) == EXPECTED_ROUTES


def test_every_http_functions_signature_matches_its_bindings(functions):
    for name in EXPECTED_ROUTES:
        function = functions[name]
        user_function = function.get_user_function()
        hints = typing.get_type_hints(user_function)
        arg_name = function.get_trigger().name
        assert list(inspect.signature(user_function).parameters) == [arg_name]
        assert hints == {arg_name: func.HttpRequest, "return": func.HttpResponse}


def test_every_route_of_the_app_is_in_the_openapi_document_and_nothing_else(functions):
    declared = {
        (f"/{route}", method.lower())
        for route, methods, _ in http_functions(functions).values()
        if route != "{*path}"
        for method in methods
    }
    paths = openapi.document()["paths"]
    documented = {(path, method) for path, ops in paths.items() for method in ops}
    assert declared == documented


def test_the_openapi_document_is_served_and_every_error_is_problem_json(functions):
    response = call(functions, "get_openapi", "GET", "/api/openapi.json")
    assert response.status_code == 200
    document = body_of(response)
    assert document == json.loads(json.dumps(openapi.document()))
    assert document["openapi"].startswith("3.1")
    for ops in document["paths"].values():
        for op in ops.values():
            for status, answer in op["responses"].items():
                kinds = set(answer["content"])
                ok = {"text/html"} if op["operationId"] == "console" else {"application/json"}
                assert kinds == (ok if status < "400" else {"application/problem+json"})


def test_creating_a_quote_id_with_other_terms_on_another_worker_is_a_409(functions, app_services):
    other_worker = Services(app_services.settings, app_services.adapters, clock=FakeClock())
    previous = bootstrap.install(other_worker)
    try:
        assert get_quote(functions, "Q1").status_code == 404  # warms its cache: no Q1
        bootstrap.install(app_services)
        create(functions, {"quoteId": "Q1", "customerId": "C1", "premium": ACCEPTED})
        bootstrap.install(other_worker)
        response = create(
            functions, {"quoteId": "Q1", "customerId": "C2", "premium": str(ACCEPTED_PREMIUM + 1)}
        )
    finally:
        bootstrap.install(previous)
    assert_problem(response, 409, "Q1")
