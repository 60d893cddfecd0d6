"""GET /api/quotes/{id} between the approval and the saga's projection, and with a stored
event this version cannot read: the documented shapes, never a 500."""

from __future__ import annotations

import pytest

from tests.functions.driver import Driver, document_list, orchestrate
from tests.functions.test_http_api import approve, body_of, create, get_quote
from tests.support.builders import ACCEPTED_PREMIUM, event

pytestmark = pytest.mark.functions


def project_what_is_there(app_services) -> None:
    driver = Driver(app_services, times=1)
    orchestrate(document_list(driver.new_documents()), driver.context)


def test_right_after_approval_the_saga_shows_as_not_yet_projected(functions, app_services):
    create(functions, {"customerId": "C1", "premium": str(ACCEPTED_PREMIUM), "quoteId": "Q1"})
    project_what_is_there(app_services)  # the view holds the created quote, no saga yet
    assert approve(functions, "Q1").status_code == 202

    body = body_of(get_quote(functions, "Q1"))

    assert body["quote"]["status"] == "Approved"
    saga = body["saga"]
    assert (saga["status"], saga["step"], saga["projected"]) == ("Running", "CreatePolicy", False)


def append_unreadable(app_services, stream: str, version: int) -> None:
    unreadable = event(stream, version + 1, event_type="FromANewerVersion", data={})
    app_services.adapters.store.append(stream, version, [unreadable], "cmd-newer")


def test_an_unreadable_event_in_the_stream_leaves_the_stored_view_readable(functions, app_services):
    create(functions, {"customerId": "C1", "premium": str(ACCEPTED_PREMIUM), "quoteId": "Q1"})
    project_what_is_there(app_services)
    append_unreadable(app_services, "quote-Q1", 1)

    response = get_quote(functions, "Q1")

    assert response.status_code == 200
    assert body_of(response)["quote"]["status"] == "Created"


def test_an_unreadable_stream_without_a_view_is_a_conflict_problem(functions, app_services):
    create(functions, {"customerId": "C1", "premium": str(ACCEPTED_PREMIUM), "quoteId": "Q1"})
    append_unreadable(app_services, "quote-Q1", 1)

    response = get_quote(functions, "Q1")

    assert response.status_code == 409
    assert response.mimetype == "application/problem+json"
    assert "FromANewerVersion" in body_of(response)["detail"]
    assert approve(functions, "Q1").status_code == 409  # the same for a command on it
