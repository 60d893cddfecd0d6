"""Premiums are Decimal: one amount however it is written, a precision rule for new quotes,
JSON strings on the way out, and old documents (premiums as JSON numbers) read as written."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from pydantic import ValidationError

from bootstrap import Settings, rules_from
from domain import codec, policy, quote
from domain.messages import (
    CreatePolicy,
    CreateQuote,
    PolicyCreated,
    PolicyCreationFailed,
    QuoteCreated,
    parse_command,
)
from domain.money import MAX_PREMIUM, PREMIUM_RULE
from domain.policy import UnderwritingRules, premium_limit
from domain.registry import POLICY, make_command, read_command
from domain.saga_events import SagaStarted
from tests.support.builders import AT, UNDERWRITING_LIMIT
from tests.support.world import World

pytestmark = pytest.mark.unit


def create(premium: object) -> CreateQuote:
    return CreateQuote(quoteId="Q1", customerId="C1", premium=premium)  # type: ignore[arg-type]


@pytest.mark.parametrize("written", [10, 10.0, "10", "10.0", "10.00", Decimal("10.000")])
def test_a_premium_is_one_amount_however_it_is_written(written):
    assert create(written).premium == Decimal("10")
    assert create(written).model_dump(mode="json")["premium"] == "10.00"


def test_creating_a_quote_again_with_the_premium_written_otherwise_is_the_same_quote():
    state = quote.evolve(None, QuoteCreated(quoteId="Q1", customerId="C1", premium="10.00"))
    for written in (10, 10.0, "10", "10.0"):
        assert quote.decide(state, create(written)) == []


def test_a_request_repeated_with_the_premium_written_otherwise_is_the_same_command():
    world = World()
    first = world.quotes.create("C1", Decimal("10"), "Q1")
    again = world.quotes.create("C1", Decimal("10.00"), "Q1")
    assert (first.created, again.created) == (True, False)
    [created] = world.store.read_stream("quote-Q1")
    assert created.data["premium"] == "10.00"


@pytest.mark.parametrize(
    "refused",
    ["10.001", "10.000", 10.001, "1e3", "1E+3",
     " 10", "10.", ".5", "", "abc", "NaN", "Infinity", 0, "0",
     -5, "-5", 1e-7, True, MAX_PREMIUM + Decimal("0.01"), "1000000000000", 1e13, float("nan"),
     float("inf")],
)  # fmt: skip
def test_a_new_premium_of_more_than_two_places_or_out_of_range_is_refused(refused):
    with pytest.raises(ValidationError):
        create(refused)


@pytest.mark.parametrize("refused", ["10.001", "10.000", 1e13, 0, -1, True])
def test_the_refusal_names_the_rule(refused):
    with pytest.raises(ValidationError, match=PREMIUM_RULE):
        create(refused)


def test_the_largest_premium_is_accepted_exactly():
    assert create(str(MAX_PREMIUM)).premium == MAX_PREMIUM
    assert create(float(MAX_PREMIUM)).premium == MAX_PREMIUM


def test_premiums_are_json_strings_in_plain_notation_in_events_and_commands():
    event = QuoteCreated(quoteId="Q1", customerId="C1", premium=Decimal("1E+3"))
    assert event.model_dump(mode="json")["premium"] == "1000"
    assert json.loads(event.model_dump_json())["premium"] == "1000"
    assert codec.encode(event)[2]["premium"] == "1000"
    for premium in ("120.50", "0.0000001"):  # an old premium too: str() would give "1E-7"
        command = CreatePolicy(policyId="P1", quoteId="Q1", customerId="C1", premium=premium)
        envelope = make_command(command, command_id="c", correlation_id="Q1", causation_id="t",
                                issued_at=AT)  # fmt: skip
        assert json.loads(envelope.model_dump_json())["data"]["premium"] == premium
    assert type(event.model_dump()["premium"]) is Decimal  # python mode keeps the Decimal


# --- old documents: premiums as JSON numbers, as written before they were decimals ---------

OLD_NUMBERS = [  # (the JSON text of the number, the decimal it is)
    ("10.0", "10.0"),
    ("100", "100"),
    ("0.1", "0.1"),
    ("120.5", "120.5"),
    ("0.30000000000000004", "0.30000000000000004"),  # 0.1 + 0.2, as a float wrote it
    ("1e-07", "0.0000001"),
    ("1e+16", "10000000000000000"),
    ("123456789012.34", "123456789012.34"),
    ("2500000.0", "2500000.0"),
]


def old_document(event_type: str, version: int, data_json: str) -> str:
    return (
        '{"id": "quote-Q1:0000000001", "streamId": "quote-Q1", "sequenceNumber": 1, '
        f'"eventId": "e1", "eventType": "{event_type}", "schemaVersion": {version}, '
        '"timestamp": "2025-06-01T00:00:00Z", "correlationId": "Q1", "causationId": "c1", '
        f'"docType": "event", "data": {data_json}}}'
    )


def old_documents(number: str) -> list[str]:
    ids = '"quoteId": "Q1", "customerId": "C1"'
    saga = ('"triggerId": "t", "triggerType": "QuoteApproved", "status": "Running", '
            '"step": "CreatePolicy", "policyId": "P1"')  # fmt: skip
    return [
        old_document("QuoteCreated", 1, f'{{"quote": "Q1", "customer": "C1", "amount": {number}}}'),
        old_document("QuoteCreated", 2, f'{{{ids}, "premium": {number}}}'),
        old_document("QuoteApproved", 1, f'{{{ids}, "premium": {number}}}'),
        old_document("PolicyCreated", 1, f'{{"policyId": "P1", {ids}, "premium": {number}}}'),
        old_document("SagaStarted", 1, f'{{{ids}, {saga}, "premium": {number}}}'),
    ]


@pytest.mark.parametrize(("number", "decimal"), OLD_NUMBERS)
def test_an_old_document_reads_its_premium_as_the_decimal_its_json_wrote(number, decimal):
    for text in old_documents(number):
        event = codec.decode(codec.parse_event(text))
        assert type(event.premium) is Decimal, text
        assert event.model_dump(mode="json")["premium"] == decimal, text  # every digit as written


def test_an_upcast_premium_is_the_string_of_the_number_as_written():
    data = codec.upcast("QuoteApproved", 1, {"quoteId": "Q1", "customerId": "C1", "premium": 1e-07})
    assert data["premium"] == "0.0000001"
    assert codec.upcast("QuoteApproved", 1, {"premium": 100})["premium"] == "100"


def test_an_old_quote_and_a_new_request_for_the_same_amount_are_the_same_quote():
    old = codec.decode(codec.parse_event(old_documents("120.5")[1]))
    assert quote.decide(quote.evolve(None, old), create("120.50")) == []  # type: ignore[arg-type]


def test_commands_in_flight_with_a_number_for_a_premium_still_read():
    text = (
        '{"commandId": "c1", "commandType": "CreatePolicy", "aggregateId": "P1", '
        '"correlationId": "Q1", "causationId": "e1", "issuedAt": "2025-06-01T00:00:00Z", '
        '"data": {"policyId": "P1", "quoteId": "Q1", "customerId": "C1", "premium": 0.1}}'
    )
    command = read_command(parse_command(text))
    assert (type(command), command.premium) == (CreatePolicy, Decimal("0.1"))  # type: ignore[union-attr]


def test_an_old_saga_start_reads_and_so_does_the_command_it_recorded():
    command = (
        '{"commandId": "c1", "commandType": "CreatePolicy", "aggregateId": "P1", '
        '"correlationId": "Q1", "causationId": "e1", "issuedAt": "2025-06-01T00:00:00Z", '
        '"data": {"policyId": "P1", "quoteId": "Q1", "customerId": "C1", "premium": 120.5}}'
    )
    data = (
        '{"quoteId": "Q1", "customerId": "C1", "triggerId": "t", "triggerType": "QuoteApproved", '
        f'"status": "Running", "policyId": "P1", "premium": 120.5, "commands": [{command}]}}'
    )
    started = codec.decode(codec.parse_event(old_document("SagaStarted", 1, data)))
    assert isinstance(started, SagaStarted)
    assert started.premium == Decimal("120.5")
    [recorded] = started.commands
    assert read_command(recorded) == CreatePolicy(
        policyId="P1", quoteId="Q1", customerId="C1", premium=Decimal("120.50")
    )


# --- the underwriting limit ----------------------------------------------------------------


def test_the_underwriting_limit_is_a_decimal_setting_and_the_domain_default_agrees():
    assert rules_from(Settings({})).of(POLICY).premium_limit == UNDERWRITING_LIMIT
    assert UnderwritingRules().premium_limit == UNDERWRITING_LIMIT
    limit = rules_from(Settings({"UNDERWRITING_PREMIUM_LIMIT": "2500.50"})).of(POLICY)
    assert limit.premium_limit == Decimal("2500.50")


@pytest.mark.parametrize("setting", ["lots", "1,000", "-5", "0", "NaN", "Infinity", " "])
def test_a_limit_setting_that_is_no_positive_number_is_refused_naming_the_setting(setting):
    with pytest.raises(ValueError, match="UNDERWRITING_PREMIUM_LIMIT must be a positive decimal"):
        rules_from(Settings({"UNDERWRITING_PREMIUM_LIMIT": setting}))


def test_a_premium_is_compared_with_the_limit_exactly():
    # 0.1 + 0.2 > 0.3 in floats: as decimals, a premium of 0.30 is exactly at a limit of 0.3.
    at_limit = CreatePolicy(policyId="P", quoteId="Q", customerId="C", premium=0.1 + 0.2)
    rules = UnderwritingRules(premium_limit("0.3", "the limit"))
    assert isinstance(policy.decide(None, at_limit, rules)[0], PolicyCreationFailed)
    at_limit = at_limit.model_copy(update={"premium": Decimal("0.1") + Decimal("0.2")})
    assert isinstance(policy.decide(None, at_limit, rules)[0], PolicyCreated)
    over = at_limit.model_copy(update={"premium": Decimal("0.31")})
    assert isinstance(policy.decide(None, over, rules)[0], PolicyCreationFailed)
