"""Premiums over HTTP: strings in and out (a JSON number still read), one quote however the
amount is written, the rule named when refused, and the OpenAPI document saying all of it."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from domain.messages import EventEnvelope, document_id
from domain.money import PREMIUM_RULE
from tests.functions.test_http_api import (
    approve,
    assert_problem,
    body_of,
    create,
    get_quote,
    run_saga,
)
from tests.support.builders import AT, OVER_LIMIT_PREMIUM
from triggers import openapi

pytestmark = pytest.mark.functions

SCHEMAS = json.loads(json.dumps(openapi.document()))["components"]["schemas"]


def premium_of(response) -> object:
    assert response.status_code in (200, 201), response.get_body()
    return body_of(response)["premium"]


SENT_AND_SHOWN = [("120.50", "120.50"), ("120.5", "120.50"), (120.5, "120.50"), (0.1, "0.10"),
                  (7, "7.00")]  # fmt: skip


@pytest.mark.parametrize(("sent", "shown"), SENT_AND_SHOWN)
def test_a_premium_sent_as_a_string_or_a_number_comes_back_as_a_decimal_string(
    functions, app_services, sent, shown
):
    response = create(functions, {"quoteId": "Q1", "customerId": "C1", "premium": sent})
    assert premium_of(response) == shown
    assert body_of(get_quote(functions, "Q1"))["quote"]["premium"] == shown


def test_the_same_amount_written_otherwise_is_the_same_quote(functions, app_services):
    first = create(functions, {"quoteId": "Q1", "customerId": "C1", "premium": "10"})
    assert first.status_code == 201
    for written in (10, 10.0, "10.0", "10.00"):
        again = create(functions, {"quoteId": "Q1", "customerId": "C1", "premium": written})
        assert (again.status_code, premium_of(again)) == (200, "10.00")
    assert len(app_services.adapters.store.read_stream("quote-Q1")) == 1


@pytest.mark.parametrize("refused", ["10.001", 10.001, "1e3", "0", -1, "1000000000000", True])
def test_a_premium_outside_the_rule_is_a_400_naming_the_rule(functions, app_services, refused):
    response = create(functions, {"customerId": "C1", "premium": refused})
    problem = assert_problem(response, 400, PREMIUM_RULE)
    assert problem["errors"][0]["pointer"] == "#/premium"


def test_an_over_limit_premium_is_refused_by_underwriting_with_the_amount_as_a_string(
    functions, app_services
):
    body = {"quoteId": "Q1", "customerId": "C1", "premium": str(OVER_LIMIT_PREMIUM)}
    assert premium_of(create(functions, body)) == str(OVER_LIMIT_PREMIUM)
    approve(functions, "Q1")
    run_saga(app_services)
    quote = body_of(get_quote(functions, "Q1"))["quote"]
    assert (quote["status"], quote["premium"]) == ("Rejected", str(OVER_LIMIT_PREMIUM))
    assert f"{OVER_LIMIT_PREMIUM:,.2f}" in quote["rejectionReason"]


def test_a_quote_stored_with_a_float_premium_is_shown_as_its_decimal_string(
    functions, app_services
):
    old = EventEnvelope(id=document_id("quote-Q1", 1), streamId="quote-Q1", sequenceNumber=1,
                        eventId="e1", eventType="QuoteCreated", schemaVersion=2, timestamp=AT,
                        correlationId="Q1", causationId="c1",
                        data={"quoteId": "Q1", "customerId": "C1", "premium": 0.1})  # fmt: skip
    app_services.adapters.store.append("quote-Q1", 0, [old], "old-command")
    assert body_of(get_quote(functions, "Q1"))["quote"]["premium"] == "0.1"
    again = create(functions, {"quoteId": "Q1", "customerId": "C1", "premium": "0.10"})
    assert again.status_code == 200  # the old quote, not a conflict


def test_the_openapi_document_says_premiums_are_decimal_strings_and_numbers_are_deprecated():
    request = SCHEMAS["CreateQuoteRequest"]["properties"]["premium"]
    text, number = request["anyOf"]
    assert (text["type"], number["type"], number["deprecated"]) == ("string", "number", True)
    check = Draft202012Validator(text)
    assert [check.is_valid(v) for v in ("120.50", "7", "10.001", "1e3", "-1")] == [
        True, True, False, False, False,
    ]  # fmt: skip
    reply = SCHEMAS["QuoteBody"]["properties"]["premium"]
    assert reply["type"] == "string"
    assert Draft202012Validator(reply).is_valid("0.0000001")  # an old premium, as written
