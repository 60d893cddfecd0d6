"""Cancelling a saga through the real entry points: the HTTP function with a real
func.HttpRequest, then the orchestrator and the command handlers (every batch delivered twice)
until the saga has undone what it did."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from domain.registry import POLICY
from domain.saga import policy_id_for
from tests.functions.driver import Driver, document_list, orchestrate
from tests.functions.test_http_api import JSON, TRACEPARENT, assert_problem, body_of, call
from tests.support.builders import ACCEPTED_PREMIUM, OVER_LIMIT_PREMIUM
from tests.support.invariants import check_invariants
from triggers import openapi

pytestmark = pytest.mark.functions

PRINCIPAL = {"x-ms-client-principal-name": "alice@contoso.com"}
WHY = "cancelled by alice@contoso.com: customer withdrew"


def cancel(functions, quote_id, payload, headers=None):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    path = f"/api/quotes/{quote_id}/cancel"
    return call(functions, "cancel_quote", "POST", path, body=body, route={"quoteId": quote_id},
                headers={**JSON, **(headers or {})})  # fmt: skip


def approved(services, quote_id="Q1", customer_id="C1", premium=ACCEPTED_PREMIUM):
    services.quotes.create(customer_id, premium, quote_id)
    services.quotes.approve(quote_id)


def feed(driver: Driver) -> None:
    """One change-feed batch through the orchestrator function; its commands stay in flight."""
    orchestrate(document_list(driver.new_documents()), driver.context)


def hubs(driver: Driver) -> None:
    """Deliver the commands in flight through their handlers."""
    driver.deliver(driver.services.adapters.publisher.drain())


def stored(services):
    return [e for _, e in services.adapters.store.read_all(0, 10**6)]


def saga_types(services, quote_id="Q1"):
    return [e.eventType for e in services.adapters.store.read_stream(f"saga-{quote_id}")]


def settled(services):
    """The invariants over everything stored, nothing dead-lettered."""
    check_invariants(services.adapters.store, services.adapters.dead_letters.list())


def test_cancelling_while_counting_the_policy_undoes_the_count_the_policy_and_the_quote(
    functions, app_services
):
    approved(app_services)
    driver = Driver(app_services)
    feed(driver)  # SagaStarted: CreatePolicy
    hubs(driver)  # PolicyCreated
    feed(driver)  # SagaAdvanced: UpdateCustomerPolicyCount
    hubs(driver)  # counted, but the saga has not seen it: it still waits on the count
    assert app_services.quotes.customer("C1").policyCount == 1
    response = cancel(functions, "Q1", {"reason": "customer withdrew"}, PRINCIPAL)
    assert response.status_code == 202, response.get_body()
    answer = body_of(response)
    assert (answer["quote"]["quoteId"], answer["quote"]["status"]) == ("Q1", "Approved")
    assert (answer["saga"]["status"], answer["saga"]["step"]) == ("Compensating", "RejectQuote")
    assert answer["saga"]["projected"] is True
    driver.run_until_quiet()
    view = app_services.quotes.view("Q1")
    assert view.saga.status == "Compensated"
    assert (view.quote.status, view.quote.rejectionReason) == ("Rejected", WHY)
    assert app_services.commands.state_of(POLICY, policy_id_for("Q1")).status == "Cancelled"
    customer = app_services.quotes.customer("C1")
    assert (customer.policyCount, customer.activePolicies) == (0, ())
    [entry] = [e for e in view.timeline if e.eventType == "SagaCancelled"]
    assert entry.reason == WHY
    [cancelled] = [e for e in stored(app_services) if e.eventType == "SagaCancelled"]
    assert cancelled.data["requestedBy"] == "alice@contoso.com"
    assert saga_types(app_services) == [
        "SagaStarted", "SagaAdvanced", "SagaCancelled", "SagaCompensated",
    ]  # fmt: skip
    settled(app_services)


def test_cancelling_while_the_policy_is_being_created_cancels_it_whichever_lands_first(
    functions, app_services
):
    approved(app_services)
    driver = Driver(app_services)
    feed(driver)  # the CreatePolicy is in flight when the operator cancels
    response = cancel(functions, "Q1", {"reason": "customer withdrew"}, PRINCIPAL)
    assert response.status_code == 202, response.get_body()
    driver.run_until_quiet()  # CreatePolicy, then CancelPolicy, on the policy's partition
    assert app_services.quotes.view("Q1").saga.status == "Compensated"
    policy = app_services.commands.state_of(POLICY, policy_id_for("Q1"))
    assert policy.status == "Cancelled"
    assert app_services.quotes.customer("C1") is None  # never counted
    assert "SagaLateEventCompensated" not in saga_types(app_services)  # its CancelPolicy stood
    settled(app_services)


def test_cancelling_twice_answers_202_twice_and_the_undo_is_applied_once(functions, app_services):
    approved(app_services)
    driver = Driver(app_services)
    feed(driver)
    hubs(driver)
    feed(driver)  # waiting on the count: the undo has three commands
    first = cancel(functions, "Q1", {"reason": "customer withdrew"}, PRINCIPAL)
    undo = app_services.adapters.publisher.commands[1:]  # behind UpdateCustomerPolicyCount
    second = cancel(functions, "Q1", {"reason": "another reason", "requestedBy": "bob"})
    assert (first.status_code, second.status_code) == (202, 202)
    assert body_of(second)["saga"] == body_of(first)["saga"]
    assert [c.commandType for c in undo] == ["RemoveCustomerPolicy", "CancelPolicy", "RejectQuote"]
    resent = app_services.adapters.publisher.commands[4:]
    assert resent == undo  # the same commands, same ids: the receipts make them no-ops
    driver.run_until_quiet()
    assert saga_types(app_services).count("SagaCancelled") == 1
    caused = Counter(e.causationId for e in stored(app_services))
    assert {c.commandId: caused[c.commandId] for c in undo} == {c.commandId: 1 for c in undo}
    assert app_services.quotes.view("Q1").quote.rejectionReason == WHY  # the first's
    settled(app_services)


def test_cancelling_again_once_the_cancelled_saga_has_compensated_is_a_202_deciding_nothing(
    functions, app_services
):
    approved(app_services)
    driver = Driver(app_services)
    feed(driver)
    assert cancel(functions, "Q1", {"reason": "customer withdrew"}, PRINCIPAL).status_code == 202
    driver.run_until_quiet()
    assert app_services.quotes.view("Q1").saga.status == "Compensated"
    before = stored(app_services)
    again = cancel(functions, "Q1", {"reason": "too late"})
    assert again.status_code == 202, again.get_body()
    assert body_of(again)["saga"]["status"] == "Compensated"
    driver.run_until_quiet()  # what it re-sent (the first one's commands) changes nothing
    assert stored(app_services) == before
    assert app_services.quotes.view("Q1").quote.rejectionReason == WHY  # the first's
    settled(app_services)


@pytest.mark.parametrize(
    ("premium", "status", "words"),
    [
        (ACCEPTED_PREMIUM, "Completed", "policy is active"),
        (OVER_LIMIT_PREMIUM, "Compensated", "rejected"),
    ],
)
def test_cancelling_an_ended_saga_is_a_409_saying_how_it_ended(
    functions, app_services, premium, status, words
):
    approved(app_services, premium=premium)
    Driver(app_services).run_until_quiet()
    before = stored(app_services)
    response = cancel(functions, "Q1", {"reason": "too late"})
    assert_problem(response, 409, status, words, "nothing to cancel")
    assert stored(app_services) == before
    assert app_services.adapters.publisher.commands == []


def test_cancelling_an_unknown_quote_is_a_404(functions, app_services):
    assert_problem(cancel(functions, "Q-none", {"reason": "why"}), 404, "quote Q-none")
    assert stored(app_services) == []


def test_cancelling_a_quote_whose_saga_has_not_started_is_a_404_saying_so(functions, app_services):
    app_services.quotes.create("C1", ACCEPTED_PREMIUM, "Q1")
    assert_problem(cancel(functions, "Q1", {"reason": "why"}), 404, "has no saga")
    app_services.quotes.approve("Q1")  # approved, but the orchestrator has not run yet
    assert_problem(cancel(functions, "Q1", {"reason": "why"}), 404, "not started yet")
    assert saga_types(app_services) == []


BAD = {
    "missing reason": ({}, "reason is required", "reason"),
    "reason of spaces": ({"reason": "   "}, "reason", "reason"),
    "reason too long": ({"reason": "x" * 501}, "at most 500", "reason"),
    "reason a number": ({"reason": 42}, "valid string", "reason"),
    "reason null": ({"reason": None}, "valid string", "reason"),
    "requestedBy empty": ({"reason": "why", "requestedBy": ""}, "requestedBy", "requestedBy"),
    "requestedBy too long": ({"reason": "why", "requestedBy": "b" * 101}, "at most 100",
                             "requestedBy"),
    "unknown field": ({"reason": "why", "force": True}, "not a known field", "force"),
    "not an object": (["why"], "JSON object", ""),
    "malformed JSON": (b'{"reason": ', "JSON", None),
}  # fmt: skip


@pytest.mark.parametrize(("body", "words", "field"), BAD.values(), ids=BAD.keys())
def test_a_bad_cancel_body_is_a_400_naming_the_field_and_cancels_nothing(
    functions, app_services, body, words, field
):
    approved(app_services)
    feed(Driver(app_services))
    problem = assert_problem(cancel(functions, "Q1", body), 400, words)
    if field:
        assert {"pointer": f"#/{field}"}.items() <= problem["errors"][0].items()
    assert saga_types(app_services) == ["SagaStarted"]


def test_a_cancel_without_a_json_body_or_with_a_bad_id_cancels_nothing(functions, app_services):
    approved(app_services)
    feed(Driver(app_services))
    response = call(functions, "cancel_quote", "POST", "/api/quotes/Q1/cancel",
                    body=b"reason=why", route={"quoteId": "Q1"})  # fmt: skip
    assert_problem(response, 415)
    problem = assert_problem(cancel(functions, "..", {"reason": "why"}), 400, "quoteId")
    assert problem["errors"] == [{"detail": problem["detail"], "parameter": "quoteId"}]
    assert saga_types(app_services) == ["SagaStarted"]


@pytest.mark.parametrize(
    ("body", "headers", "who"),
    [
        ({"reason": "why"}, {}, "operator"),
        ({"reason": "why"}, {"X-MS-CLIENT-PRINCIPAL-NAME": "  carol  "}, "carol"),
        ({"reason": "why"}, {"x-ms-client-principal-name": "   "}, "operator"),
        ({"reason": "why"}, {"x-ms-client-principal-name": "d" * 150}, "d" * 100),
        ({"reason": "why", "requestedBy": " bob "}, PRINCIPAL, "bob"),
    ],
    ids=["nobody signed in", "the signed-in caller", "a blank caller", "a long caller",
         "the body's requestedBy first"],
)  # fmt: skip
def test_who_cancelled_is_the_body_then_the_signed_in_caller_then_operator(
    functions, app_services, body, headers, who
):
    approved(app_services)
    feed(Driver(app_services))
    assert cancel(functions, "Q1", body, headers).status_code == 202
    [cancelled] = [e for e in stored(app_services) if e.eventType == "SagaCancelled"]
    assert cancelled.data["requestedBy"] == who
    assert cancelled.data["reason"] == f"cancelled by {who}: why"


def test_the_callers_trace_is_carried_on_the_undo(functions, app_services):
    approved(app_services)
    feed(Driver(app_services))
    app_services.adapters.publisher.drain()
    cancel(functions, "Q1", {"reason": "why"}, {"traceparent": TRACEPARENT})
    assert {c.traceparent for c in app_services.adapters.publisher.commands} == {TRACEPARENT}


def test_the_cancel_route_is_admin_only_and_documented(functions):
    trigger = json.loads(functions["cancel_quote"].get_function_json())["bindings"][0]
    assert (trigger["route"], trigger["methods"], trigger["authLevel"]) == (
        "quotes/{quoteId}/cancel", ["POST"], "ADMIN",
    )  # fmt: skip
    operation = openapi.document()["paths"]["/quotes/{quoteId}/cancel"]["post"]
    assert set(operation["responses"]) == {"202", "400", "404", "409", "413", "415", "500",
                                           "503"}  # fmt: skip
    schema = openapi.document()["components"]["schemas"]["CancelRequest"]
    assert schema["required"] == ["reason"]
    assert schema["properties"]["reason"]["maxLength"] == 500
