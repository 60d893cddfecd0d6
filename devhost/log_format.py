"""The local host's console log: `12:00:01.234 I Q-17 saga Running -> Compensating ...` —
time, level, whom the line is about (its correlation id, else its logger), what happened,
then the line's other structured fields. The fields stay on the record as they are sent to
Application Insights (application/telemetry.py); only their layout here is the host's."""

from __future__ import annotations

import logging
import re
import sys

from application.telemetry import parts

SUBJECTS = ("correlationId", "correlationIds")


class StoryFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s", datefmt="%H:%M:%S")

    def formatMessage(self, record: logging.LogRecord) -> str:
        when = f"{record.asctime}.{int(record.msecs):03d}"
        return f"{when} {record.levelname[:1]} {story(record)}"


def story(record: logging.LogRecord) -> str:
    """The line without time and level: subject first, then the text, then other fields."""
    split = parts(record)
    if split is None:
        return f"{record.name} {record.getMessage()}"
    what, fields = split
    subject = next((str(fields[k]) for k in SUBJECTS if k in fields), record.name)
    rest = [f"{k}={v}" for k, v in fields.items() if k not in SUBJECTS and not _shown(v, what)]
    return " ".join([subject, what, *rest])


def _shown(value: object, text: str) -> bool:
    """A field the text already shows word for word (a reason, a status) is not repeated."""
    return isinstance(value, str) and len(value) >= 3 and value in text


class BatchSummaries(logging.Filter):
    """Leaves out the summary each trigger logs per batch (`orchestrate batch=1 processed=1
    ...`, triggers/): the host's own line for the invocation comes with it, and has the
    correlation ids and the duration. Failures and dead letters have lines of their own."""

    SUMMARY = re.compile(r"^\S+ batch=%d processed=%d")

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.levelno == logging.INFO
            and record.name.startswith("quoting.")
            and isinstance(record.msg, str)
            and self.SUMMARY.match(record.msg) is not None
        )


def configure(level: str, app_level: str | None) -> logging.Handler:
    """The host's own logs at `level`; the app's (`quoting`) at `app_level`, by default as the
    host's but for the app's lines per request and per batch: the host's line for the same
    invocation has its outcome (an HTTP status), duration and correlation ids. With an
    `app_level` given, every app line at that level is shown."""
    level = level.upper()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(StoryFormatter())
    if app_level is None:
        handler.addFilter(BatchSummaries())
    root = logging.getLogger()
    root.setLevel(level)  # ValueError for an unknown level
    root.addHandler(handler)
    logging.getLogger("devhost").setLevel(level)
    logging.getLogger("quoting").setLevel(app_level.upper() if app_level else level)
    if app_level is None:
        numeric = logging.getLevelNamesMapping()[level]
        logging.getLogger("quoting.http").setLevel(max(logging.WARNING, numeric))
    return handler
