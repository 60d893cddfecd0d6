"""GET /api/console through the real entry point: one self-contained HTML page whose only
script and style are its own (pinned by hash), that calls only routes of the API."""

from __future__ import annotations

import base64
import hashlib
import re

import azure.functions as func
import pytest

from triggers import openapi

pytestmark = pytest.mark.functions


@pytest.fixture(scope="module")
def served(functions) -> func.HttpResponse:
    request = func.HttpRequest("GET", "http://localhost/api/console?code=k", body=b"")
    return functions["console"].get_user_function()(request)


def page_of(response: func.HttpResponse) -> str:
    return response.get_body().decode("utf-8")


def test_the_console_is_an_html_page_that_is_never_cached(served):
    assert served.status_code == 200
    assert (served.mimetype, served.charset) == ("text/html", "utf-8")
    assert page_of(served).startswith("<!doctype html>")
    assert served.headers["Cache-Control"] == "no-store"  # it is opened with a key in its URL
    assert served.headers["Referrer-Policy"] == "no-referrer"


def test_only_the_pages_own_inline_script_and_style_may_run(served):
    policy = dict(
        part.strip().split(" ", 1) for part in served.headers["Content-Security-Policy"].split(";")
    )
    page = page_of(served)
    for kind in ("script", "style"):
        blocks = re.findall(rf"<{kind}>(.*?)</{kind}>", page, re.DOTALL)
        assert len(blocks) == 1
        digest = base64.b64encode(hashlib.sha256(blocks[0].encode()).digest()).decode()
        assert policy[f"{kind}-src"] == f"'sha256-{digest}'"  # no 'unsafe-inline'
    assert (policy["default-src"], policy["connect-src"]) == ("'none'", "'self'")


def test_the_page_loads_nothing_from_elsewhere_and_writes_no_markup_from_data(served):
    page = page_of(served)
    assert not re.search(r"https?://|\bsrc=|\bhref=|@import", page)
    assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(", page)


def test_every_call_the_page_makes_is_a_route_of_the_api(served):
    [table] = re.findall(r"const ROUTES = \{(.*?)\};", page_of(served), re.DOTALL)
    calls = set(re.findall(r'\["(GET|POST)", "([^"]+)"\]', table))
    assert len(calls) == table.count("[") == 6
    documented = {(op.method, op.route) for op in openapi.OPERATIONS}
    assert calls - documented == set()


def test_the_console_is_documented_as_an_admin_page(served):
    spec = openapi.document()["paths"]["/console"]["get"]
    assert spec["x-auth-level"] == "ADMIN"
    assert set(spec["responses"]["200"]["content"]) == {"text/html"}
