"""One way to log about a message: the ids in the text (for `func start` and grep) and as
structured fields (custom dimensions in Application Insights)."""

from __future__ import annotations

import logging
from collections.abc import Mapping


def log(logger: logging.Logger, level: int, what: str, **ids: object) -> None:
    """`what` followed by `key=value` for every id given, e.g. correlationId=Q1 eventId=...;
    nothing is built for a level the logger would drop (a host under load logs at WARNING)."""
    if not logger.isEnabledFor(level):
        return
    fields = {k: v for k, v in ids.items() if v is not None}
    logger.log(level, what + _suffix(fields), extra={"custom_dimensions": fields, **fields})


def parts(record: logging.LogRecord) -> tuple[str, dict[str, object]] | None:
    """`(what, fields)` of a line `log` wrote (so a console can lay them out its own way);
    None for any other record."""
    fields = getattr(record, "custom_dimensions", None)
    if not isinstance(fields, dict):
        return None
    message, suffix = record.getMessage(), _suffix(fields)
    if not message.endswith(suffix):
        return None
    return message[: len(message) - len(suffix)], fields


def _suffix(fields: Mapping[str, object]) -> str:
    return "".join(f" {k}={v}" for k, v in fields.items())
