"""RFC 9457 problem details for what the local host answers itself (malformed requests, paths
outside the route prefix): `type` is about:blank, so `title` is the status code's phrase."""

from __future__ import annotations

import json
from http import HTTPStatus

PROBLEM_JSON = "application/problem+json"
_PHRASES = {status.value: status.phrase for status in HTTPStatus}  # HTTPStatus(n) is slow


def phrase(status: int) -> str:
    """The reason phrase of a status code ("Unknown" for a code http.HTTPStatus lacks)."""
    return _PHRASES.get(status, "Unknown")


def problem(status: int, detail: str) -> bytes:
    """The JSON body; https://www.rfc-editor.org/rfc/rfc9457#section-4.2.1: with about:blank
    the title SHOULD be the status code's recommended phrase."""
    document = {"type": "about:blank", "title": phrase(status), "status": status}
    return json.dumps(document | {"detail": detail}).encode()
