"""Operating the sagas through the real HTTP entry points: GET /api/sagas (filters, order,
continuation), GET /api/sagas/summary, GET /api/customers/{id}/quotes and the dead-letter
filters, over the in-memory services with sagas run to their ends by the real handlers."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta

import pytest

from application.ports import DeadLetter
from tests.functions.test_http_api import approve, assert_problem, body_of, call, create, run_saga
from tests.support.builders import ACCEPTED_PREMIUM, OVER_LIMIT_PREMIUM, accepted_premium

pytestmark = pytest.mark.functions

OVER_LIMIT = str(OVER_LIMIT_PREMIUM)  # above UNDERWRITING_PREMIUM_LIMIT: the policy is refused
ACCEPTED, DRAFT = str(ACCEPTED_PREMIUM), str(accepted_premium(1))


def sagas(functions, **params):
    return call(functions, "list_sagas", "GET", "/api/sagas", params=params)


def start(functions, app_services, quote_id, customer="C1", premium=ACCEPTED, run=True):
    create(functions, {"quoteId": quote_id, "customerId": customer, "premium": premium})
    approve(functions, quote_id)
    if run:
        run_saga(app_services)


def quote_ids(response):
    assert response.status_code == 200, response.get_body()
    return [item["quoteId"] for item in body_of(response)["items"]]


def test_sagas_list_most_recent_first_with_where_each_stands_and_why(functions, app_services):
    start(functions, app_services, "Q-done")
    start(functions, app_services, "Q-refused", premium=OVER_LIMIT)

    listed = body_of(sagas(functions))

    done, refused = sorted(listed["items"], key=lambda item: item["quoteId"])
    assert [item["quoteId"] for item in listed["items"]] == ["Q-refused", "Q-done"]
    assert listed["continuation"] is None
    assert done | {"startedAt": None, "updatedAt": None, "policyId": None} == {
        "quoteId": "Q-done", "customerId": "C1", "premium": ACCEPTED, "status": "Completed",
        "step": None, "deadline": None, "stuck": False, "startedAt": None, "updatedAt": None,
        "policyId": None, "reason": None,
    }  # fmt: skip
    assert done["policyId"]
    assert done["startedAt"] < done["updatedAt"] < refused["startedAt"]
    assert (refused["status"], refused["step"]) == ("Compensated", None)
    assert "premium" in refused["reason"] or "limit" in refused["reason"], refused


def test_a_running_saga_shows_its_step_and_deadline_and_becomes_stuck_once_it_passes(
    functions, app_services
):
    start(functions, app_services, "Q-waiting", run=False)
    run_saga_without_policy_commands(app_services)

    [waiting] = body_of(sagas(functions))["items"]
    assert (waiting["status"], waiting["step"], waiting["stuck"]) == (
        "Running", "CreatePolicy", False,
    )  # fmt: skip
    # The step's deadline: five minutes (the default step time-out) after the approval.
    lead = datetime.fromisoformat(waiting["deadline"]) - datetime.fromisoformat(
        waiting["startedAt"]
    )
    assert timedelta(minutes=4, seconds=59) < lead <= timedelta(minutes=5)
    assert quote_ids(sagas(functions, stuck="true")) == []

    app_services.clock.advance(timedelta(minutes=10))

    assert quote_ids(sagas(functions, stuck="true")) == ["Q-waiting"]
    assert body_of(sagas(functions))["items"][0]["stuck"] is True
    assert body_of(summary(functions))["stuck"] == 1


def run_saga_without_policy_commands(app_services):
    """The orchestrator projects the approval; the policy hub never delivers (a stuck step)."""
    new = app_services.adapters.store.read_all(0, 10**6)
    app_services.orchestrator.process_documents([e.to_document() for _, e in new])
    app_services.adapters.publisher.drain()


def test_filters_by_status_customer_and_start_time_narrow_the_list(functions, app_services):
    start(functions, app_services, "Q-c1-done", customer="C1")
    start(functions, app_services, "Q-c2-done", customer="C2")
    start(functions, app_services, "Q-c1-refused", customer="C1", premium=OVER_LIMIT)
    first, second, third = reversed(body_of(sagas(functions))["items"])

    assert quote_ids(sagas(functions, status="Completed")) == ["Q-c2-done", "Q-c1-done"]
    assert quote_ids(sagas(functions, customerId="C1")) == ["Q-c1-refused", "Q-c1-done"]
    assert quote_ids(sagas(functions, customerId="C1", status="Completed")) == ["Q-c1-done"]
    assert quote_ids(
        sagas(functions, createdFrom=second["startedAt"], createdTo=second["startedAt"])
    ) == [second["quoteId"]]
    assert quote_ids(sagas(functions, createdFrom=second["startedAt"])) == [
        third["quoteId"], second["quoteId"],
    ]  # fmt: skip
    assert quote_ids(sagas(functions, createdTo=first["startedAt"])) == [first["quoteId"]]


def test_pages_follow_each_continuation_to_the_end_without_repeats(functions, app_services):
    for n in range(4):
        start(functions, app_services, f"Q{n}", run=False)
    run_saga(app_services)
    everything = quote_ids(sagas(functions))

    seen, token, pages = [], None, 0
    while True:
        page = body_of(sagas(functions, limit="2", **({"continuation": token} if token else {})))
        seen += [item["quoteId"] for item in page["items"]]
        pages += 1
        token = page["continuation"]
        if token is None:
            break
        start(functions, app_services, f"Q-new-{pages}")  # started meanwhile: newer, not seen

    assert seen == everything == ["Q3", "Q2", "Q1", "Q0"]
    assert pages == 2  # the last page says it is the last: no empty page after it


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"status": "Sleeping"}, "status"),
        ({"stuck": "yes"}, "stuck"),
        ({"customerId": "not an id"}, "customerId"),
        ({"createdFrom": "yesterday"}, "createdFrom"),
        ({"createdTo": "0001-01-01T00:00:00+01:00"}, "createdTo"),
        (
            {"createdFrom": "2026-01-02T00:00:00Z", "createdTo": "2026-01-01T00:00:00Z"},
            "createdFrom",
        ),
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"continuation": "not-a-token"}, "continuation"),
        ({"continuation": base64.urlsafe_b64encode(b'["x", "Q1"]').decode()}, "continuation"),
        ({"continuation": base64.urlsafe_b64encode(b'[null, ""]').decode()}, "continuation"),
    ],
)
def test_a_bad_query_parameter_is_a_400_that_names_it(functions, app_services, params, parameter):
    problem = assert_problem(sagas(functions, **params), 400)
    assert [error["parameter"] for error in problem["errors"]] == [parameter]


def summary(functions):
    return call(functions, "saga_summary", "GET", "/api/sagas/summary")


def test_the_summary_counts_every_status_and_the_stuck_sagas(functions, app_services):
    assert body_of(summary(functions)) == {
        "counts": {"Running": 0, "Compensating": 0, "Completed": 0, "Compensated": 0},
        "stuck": 0,
    }
    start(functions, app_services, "Q-done")
    start(functions, app_services, "Q-refused", premium=OVER_LIMIT)
    start(functions, app_services, "Q-waiting", run=False)
    run_saga_without_policy_commands(app_services)

    assert body_of(summary(functions)) == {
        "counts": {"Running": 1, "Compensating": 0, "Completed": 1, "Compensated": 1},
        "stuck": 0,
    }


def customer_quotes(functions, customer_id, **params):
    path = f"/api/customers/{customer_id}/quotes"
    return call(functions, "customer_quotes", "GET", path, params=params,
                route={"customerId": customer_id})  # fmt: skip


def test_a_customers_quotes_show_each_quote_and_its_sagas_status(functions, app_services):
    start(functions, app_services, "Q-done")
    start(functions, app_services, "Q-refused", premium=OVER_LIMIT)
    create(functions, {"quoteId": "Q-draft", "customerId": "C1", "premium": DRAFT})
    start(functions, app_services, "Q-other", customer="C2")
    run_saga(app_services)  # the draft's creation reaches the read model

    found = body_of(customer_quotes(functions, "C1"))

    assert found["customerId"] == "C1"
    assert found["continuation"] is None
    assert [
        (item["quoteId"], item["quoteStatus"], item["sagaStatus"]) for item in found["items"]
    ] == [
        ("Q-refused", "Rejected", "Compensated"),
        ("Q-done", "Approved", "Completed"),
        ("Q-draft", "Created", None),  # no saga: listed after those that started one
    ]
    refused, done, draft = found["items"]
    assert (done["premium"], done["policyId"] is not None) == (ACCEPTED, True)
    assert (refused["premium"], refused["policyId"]) == (OVER_LIMIT, None)  # never created
    assert (draft["premium"], draft["startedAt"], draft["policyId"]) == (DRAFT, None, None)
    assert refused["startedAt"] > done["startedAt"]


def test_a_customers_quotes_page_with_a_continuation(functions, app_services):
    for n in range(3):
        start(functions, app_services, f"Q{n}")

    pages, token = [], None
    while True:
        params = {"limit": "2", **({"continuation": token} if token else {})}
        page = body_of(customer_quotes(functions, "C1", **params))
        pages.append([item["quoteId"] for item in page["items"]])
        token = page["continuation"]
        if token is None:
            break

    assert pages == [["Q2", "Q1"], ["Q0"]]
    problem = assert_problem(customer_quotes(functions, "C1", continuation="nope"), 400)
    assert problem["errors"][0]["parameter"] == "continuation"


def test_a_customer_without_quotes_is_a_404_and_a_bad_id_a_400(functions, app_services):
    assert_problem(customer_quotes(functions, "C-nobody"), 404, "C-nobody")
    assert_problem(customer_quotes(functions, "bad id!"), 400)


def letters(functions, **params):
    return call(functions, "list_dead_letters", "GET", "/api/deadletters", params=params)


def test_dead_letters_filter_by_quote_and_by_open_or_replayed(functions, app_services):
    store = app_services.adapters.dead_letters
    for letter_id, quote_id in (("L1", "Q1"), ("L2", "Q1"), ("L3", "Q2")):
        store.put(DeadLetter(id=letter_id, source="command", origin="quote-commands",
                             reason="r", payload="{}", correlationId=quote_id,
                             receivedAt=app_services.clock()))  # fmt: skip
    store.mark_replayed("L2", app_services.clock())

    def ids(**params):
        response = letters(functions, **params)
        assert response.status_code == 200, response.get_body()
        return [letter["id"] for letter in body_of(response)["items"]]

    assert ids(correlationId="Q1") == ["L2", "L1"]
    assert ids(state="open") == ["L3", "L1"]
    assert ids(state="replayed", correlationId="Q1") == ["L2"]
    assert ids(state="replayed", correlationId="Q2") == []
    problem = assert_problem(letters(functions, state="closed"), 400)
    assert problem["errors"][0]["parameter"] == "state"


def test_the_openapi_document_describes_every_filter_of_the_saga_routes(functions):
    response = call(functions, "get_openapi", "GET", "/api/openapi.json")
    paths = json.loads(response.get_body())["paths"]

    def names(path):
        return [p["name"] for p in paths[path]["get"]["parameters"]]

    assert names("/sagas") == [
        "status", "stuck", "customerId", "createdFrom", "createdTo", "limit", "continuation",
    ]  # fmt: skip
    assert names("/customers/{customerId}/quotes") == ["customerId", "limit", "continuation"]
    assert names("/deadletters") == ["limit", "correlationId", "state"]
    assert paths["/sagas/summary"]["get"]["x-auth-level"] == "ADMIN"


def test_a_cancelled_saga_lists_with_who_cancelled_it_and_why(functions, app_services):
    start(functions, app_services, "Q-waiting", run=False)
    run_saga_without_policy_commands(app_services)
    body = json.dumps({"reason": "customer withdrew", "requestedBy": "alice"}).encode()
    cancelled = call(functions, "cancel_quote", "POST", "/api/quotes/Q-waiting/cancel",
                     body=body, route={"quoteId": "Q-waiting"},
                     headers={"Content-Type": "application/json"})  # fmt: skip
    assert cancelled.status_code == 202, cancelled.get_body()
    run_saga(app_services)

    [row] = body_of(sagas(functions))["items"]

    assert (row["status"], row["reason"]) == (
        "Compensated",
        "cancelled by alice: customer withdrew",
    )
    assert quote_ids(sagas(functions, status="Compensated")) == ["Q-waiting"]
