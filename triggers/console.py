"""GET /api/console: the operator console, one HTML page (triggers/console.html: inline CSS
and JavaScript, no build step, no external URL) that calls only the HTTP API, passing on the
`code` key it was opened with. It ships in the deployment package with triggers/."""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from functools import cache
from pathlib import Path

import azure.functions as func

from application.telemetry import log
from triggers import openapi as api

bp = func.Blueprint()
logger = logging.getLogger("quoting.http")
PAGE = Path(__file__).with_name("console.html")
INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)


@cache
def page() -> tuple[bytes, dict[str, str]]:
    """The page and its headers: a Content-Security-Policy that lets only its own inline
    script and style run (by hash) and lets it call only its own origin."""
    text = PAGE.read_text(encoding="utf-8")
    hashes: dict[str, list[str]] = {"script": [], "style": []}
    for kind, content in INLINE.findall(text):
        digest = base64.b64encode(hashlib.sha256(content.encode()).digest()).decode()
        hashes[kind].append(f"'sha256-{digest}'")
    policy = "; ".join([
        "default-src 'none'",
        f"script-src {' '.join(hashes['script'])}",
        f"style-src {' '.join(hashes['style'])}",
        "connect-src 'self'",
        "img-src 'self' data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ])  # fmt: skip
    headers = {
        "Content-Security-Policy": policy,
        "Cache-Control": "no-store",  # the page is opened with a key in its URL
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }
    return text.encode(), headers


@bp.function_name(api.CONSOLE.name)
@bp.route(route=api.CONSOLE.route, methods=[api.CONSOLE.method], auth_level=api.CONSOLE.auth)
def console(req: func.HttpRequest) -> func.HttpResponse:
    body, headers = page()
    log(logger, logging.INFO, f"{api.CONSOLE.name} {req.method} /api/{api.CONSOLE.route} -> 200")
    return func.HttpResponse(
        body, status_code=200, headers=headers, mimetype="text/html", charset="utf-8"
    )
