"""Ids that are path segments a client normalises away ("." and "..") are refused: a quote
created with one could never be read back over HTTP."""

from __future__ import annotations

import pytest

from tests.functions.test_http_api import body_of, create, get_quote
from tests.support.builders import ACCEPTED_PREMIUM

pytestmark = pytest.mark.functions


@pytest.mark.parametrize("field", ["quoteId", "customerId"])
@pytest.mark.parametrize("value", [".", ".."])
def test_a_dot_segment_id_is_refused_at_create(functions, app_services, field, value):
    payload = {"customerId": "C1", "premium": str(ACCEPTED_PREMIUM), "quoteId": "Q1"} | {
        field: value
    }
    response = create(functions, payload)
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert any(p.get("pointer") == f"#/{field}" for p in body_of(response)["errors"])


@pytest.mark.parametrize("value", [".", ".."])
def test_a_dot_segment_id_is_refused_in_a_route(functions, app_services, value):
    response = get_quote(functions, value)
    assert response.status_code == 400
    assert body_of(response)["errors"][0]["parameter"] == "quoteId"


@pytest.mark.parametrize("value", ["...", ".a", "a.", "..a", "Q-1.v2"])
def test_ids_with_dots_that_are_no_dot_segment_are_accepted(functions, app_services, value):
    assert (
        create(
            functions, {"customerId": "C1", "premium": str(ACCEPTED_PREMIUM), "quoteId": value}
        ).status_code
        == 201
    )
    assert get_quote(functions, value).status_code == 200


def test_a_64_character_id_is_accepted_and_65_refused(functions, app_services):
    assert (
        create(
            functions,
            {"customerId": "C1", "premium": str(ACCEPTED_PREMIUM), "quoteId": "." + "q" * 63},
        ).status_code
        == 201
    )
    assert (
        create(
            functions,
            {"customerId": "C1", "premium": str(ACCEPTED_PREMIUM), "quoteId": ".." + "q" * 63},
        ).status_code
        == 400
    )
