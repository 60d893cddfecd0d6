"""One way to log about a message: the ids in the text (for `func start` and grep) and as
structured fields (custom dimensions in Application Insights)."""

from __future__ import annotations

import logging


def log(logger: logging.Logger, level: int, what: str, **ids: object) -> None:
    """`what` followed by `key=value` for every id given, e.g. correlationId=Q1 eventId=..."""
    fields = {k: v for k, v in ids.items() if v is not None}
    text = " ".join([what, *(f"{k}={v}" for k, v in fields.items())])
    logger.log(level, text, extra={"custom_dimensions": fields, **fields})
