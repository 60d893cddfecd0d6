"""HTTP route matching of the local host, as the Functions host matches routes."""

import pytest

from devhost.functions import Function
from devhost.http import HttpRoutes
from devhost.retry import RetryPolicy
from devhost.routes import Route

pytestmark = pytest.mark.unit


def function(name, route, methods=None):
    trigger = {"type": "httpTrigger", "name": "req", "route": route, "methods": methods}
    return Function(name, "httpTrigger", trigger, RetryPolicy(), lambda req: None, False)


ROUTES = HttpRoutes(
    [
        function("catch_all", "{*path}"),
        function("get_quote", "quotes/{quoteId}", ["GET"]),
        function("approve", "quotes/{quoteId}/approve", ["POST"]),
        function("openapi", "openapi.json", ["GET"]),
        function("letters", "deadletters", ["GET"]),
        function("by_number", "items/{n:int}", ["GET"]),
        function("by_name", "items/{name}", ["GET"]),
    ]
)


def found(method, path):
    match = ROUTES.find(method, path)
    return None if match is None else (match[0].name, match[1])


def test_parameters_are_taken_from_their_segments():
    assert found("GET", "/api/quotes/Q-1") == ("get_quote", {"quoteId": "Q-1"})
    assert found("POST", "/api/quotes/Q-1/approve") == ("approve", {"quoteId": "Q-1"})


def test_a_literal_route_wins_over_a_catch_all():
    assert found("GET", "/api/openapi.json") == ("openapi", {})
    assert found("GET", "/api/deadletters") == ("letters", {})


def test_a_method_the_route_does_not_allow_falls_through_to_the_catch_all():
    assert found("DELETE", "/api/quotes/Q-1") == ("catch_all", {"path": "quotes/Q-1"})


def test_an_unknown_path_reaches_the_catch_all_with_the_rest_of_the_path():
    assert found("GET", "/api/no/such/thing") == ("catch_all", {"path": "no/such/thing"})


def test_a_path_longer_than_a_route_is_not_that_route():
    assert found("GET", "/api/quotes/Q-1/more") == ("catch_all", {"path": "quotes/Q-1/more"})


def test_empty_segments_are_no_segments():
    assert found("GET", "//api//quotes//Q-1//") == ("get_quote", {"quoteId": "Q-1"})


def test_paths_outside_the_route_prefix_match_nothing():
    assert found("GET", "/quotes/Q-1") is None


def test_constraints_decide_between_routes_of_the_same_shape():
    assert found("GET", "/api/items/42") == ("by_number", {"n": "42"})
    assert found("GET", "/api/items/abc") == ("by_name", {"name": "abc"})


def test_percent_encoded_segments_are_decoded():
    assert found("GET", "/api/quotes/Q%2D1") == ("get_quote", {"quoteId": "Q-1"})


def test_a_catch_all_must_be_the_last_segment():
    with pytest.raises(ValueError, match="catch-all"):
        Route.parse("{*path}/more")


def test_the_methods_allowed_on_a_path_are_those_of_every_route_matching_it():
    routes = HttpRoutes(
        [
            function("get_quote", "quotes/{quoteId}", ["GET"]),
            function("delete_quote", "quotes/{quoteId}", ["DELETE"]),
            function("approve", "quotes/{quoteId}/approve", ["POST"]),
        ]
    )

    assert routes.find("PUT", "/api/quotes/Q-1") is None
    assert routes.allowed("/api/quotes/Q-1") == ["DELETE", "GET"]
    assert routes.allowed("/api/nothing/here") == []
    assert routes.allowed("/elsewhere/quotes/Q-1") == []
