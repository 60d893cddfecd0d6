"""The local host's console lines: correlation id first, then what happened, then the other
fields; an HTTP invocation's line carries its answer's status; the app's per-request and
per-batch lines give way to the host's line for the same invocation unless asked for."""

from __future__ import annotations

import logging
import re
import threading

import azure.functions as func
import pytest

from adapters.sqlite_database import SqliteDatabase
from application.telemetry import log
from devhost.context import Context
from devhost.functions import Function
from devhost.invoker import Invoker
from devhost.log_format import BatchSummaries, StoryFormatter, configure, story
from devhost.retry import RetryPolicy

pytestmark = pytest.mark.unit

LINE = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} [DIWE] ")


def record_of(logger_name: str, emit) -> logging.LogRecord:
    """The one record `emit(logger)` logs."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        emit(logger)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    [record] = records
    return record


def test_a_structured_line_starts_with_its_correlation_id_and_shows_a_value_once():
    record = record_of("quoting.t", lambda lg: log(
        lg, logging.INFO, "saga Running -> Compensating: too big", correlationId="Q-17",
        eventId="e-1", sagaStatus="Compensating", reason="too big", batch=2,
    ))  # fmt: skip
    assert record.getMessage().startswith("saga Running -> Compensating: too big correlationId=")
    assert story(record) == "Q-17 saga Running -> Compensating: too big eventId=e-1 batch=2"
    assert LINE.match(StoryFormatter().format(record))


def test_a_line_about_several_quotes_starts_with_their_ids():
    record = record_of("devhost", lambda lg: log(
        lg, logging.INFO, "orchestrate ok 1.2ms", correlationIds="Q1,Q2", batch=3
    ))  # fmt: skip
    assert story(record) == "Q1,Q2 orchestrate ok 1.2ms batch=3"


def test_a_line_with_no_fields_or_no_correlation_starts_with_its_logger():
    plain = record_of("devhost", lambda lg: lg.info("serving %d functions", 13))
    assert story(plain) == "devhost serving 13 functions"
    anonymous = record_of("devhost", lambda lg: log(lg, logging.INFO, "x 400 1ms", batch=2))
    assert story(anonymous) == "devhost x 400 1ms batch=2"


def test_a_record_whose_text_does_not_end_in_its_fields_is_shown_as_logged():
    record = record_of(
        "quoting.t", lambda lg: lg.info("odd", extra={"custom_dimensions": {"a": 1}})
    )
    assert story(record) == "quoting.t odd"


def test_an_exception_keeps_its_traceback_under_the_line():
    def emit(logger):
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed")

    text = StoryFormatter().format(record_of("devhost", emit))
    assert LINE.match(text)
    assert "devhost failed\nTraceback" in text
    assert text.endswith("ValueError: boom")


@pytest.mark.parametrize(
    ("template", "args", "kept"),
    [
        ("orchestrate batch=%d processed=%d skipped=%d deadLettered=%d", (1, 1, 0, 0), False),
        ("handle_%s_commands batch=%d processed=%d deadLettered=%d", ("quote", 1, 1, 0), False),
        ("expire_stuck_sagas expired=%d pastDue=%s", (1, False), True),
        ("CreatePolicy appended", (), True),
    ],
)
def test_only_the_triggers_batch_summaries_give_way_to_the_hosts_line(template, args, kept):
    record = record_of("quoting.orchestrator", lambda lg: lg.info(template, *args))
    assert BatchSummaries().filter(record) is kept


@pytest.fixture
def logging_restored():
    names = ["", "devhost", "quoting", "quoting.http"]
    levels = {name: logging.getLogger(name).level for name in names}
    handlers = list(logging.getLogger().handlers)
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    logging.getLogger().handlers[:] = handlers


@pytest.mark.usefixtures("logging_restored")
@pytest.mark.parametrize(
    ("level", "app_level", "quoting", "http", "filtered"),
    [
        ("INFO", None, logging.INFO, logging.WARNING, True),  # `python -m devhost`
        ("WARNING", None, logging.WARNING, logging.WARNING, True),  # the e2e tests, the bench
        ("DEBUG", None, logging.DEBUG, logging.WARNING, True),
        ("INFO", "info", logging.INFO, logging.NOTSET, False),  # everything the app says
        ("WARNING", "DEBUG", logging.DEBUG, logging.NOTSET, False),
    ],
)
def test_the_apps_level_follows_the_hosts_unless_given(level, app_level, quoting, http, filtered):
    logging.getLogger("quoting.http").setLevel(logging.NOTSET)
    handler = configure(level, app_level)
    assert logging.getLogger("devhost").level == logging.getLevelNamesMapping()[level]
    assert logging.getLogger("quoting").level == quoting
    assert logging.getLogger("quoting.http").level == http
    assert any(isinstance(f, BatchSummaries) for f in handler.filters) is filtered
    assert isinstance(handler.formatter, StoryFormatter)


def http_function(status: int, headers: dict[str, str] | None = None) -> Function:
    def handle(req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse("{}", status_code=status, headers=headers)

    trigger = {"type": "httpTrigger", "name": "req"}
    return Function("create_quote", "httpTrigger", trigger, RetryPolicy(), handle, False)


def invoke(tmp_path, function: Function, ids=()) -> logging.LogRecord:
    invoker = Invoker(SqliteDatabase(tmp_path / "store.db"), threading.Event())
    request = func.HttpRequest("POST", "http://127.0.0.1:7071/api/quotes?code=k", body=b"")
    return record_of("devhost", lambda _: invoker.call(
        function, request, Context(function.name), 1, ids
    ))  # fmt: skip


@pytest.mark.parametrize(("status", "level"), [(400, logging.INFO), (503, logging.WARNING)])
def test_an_http_invocation_is_logged_with_its_answers_status(tmp_path, status, level):
    record = invoke(tmp_path, http_function(status), ["Q-1"])
    assert re.fullmatch(rf"Q-1 create_quote POST /api/quotes {status} \d+\.\dms", story(record))
    assert record.levelno == level  # a 4xx is the client's; a 5xx is the app failing


def test_a_create_is_logged_with_the_id_of_what_it_created(tmp_path):
    record = invoke(tmp_path, http_function(201, {"Location": "/api/quotes/Q-9"}))
    assert story(record).startswith("Q-9 create_quote POST /api/quotes 201 ")


def test_a_failed_attempt_is_a_warning_with_the_error_and_the_attempt(tmp_path):
    def handle(batch, context):
        raise RuntimeError("store down")

    trigger = {"type": "eventHubTrigger", "name": "batch"}
    function = Function("handle_quote_commands", "eventHubTrigger", trigger, RetryPolicy(2),
                        handle, True)  # fmt: skip
    invoker = Invoker(SqliteDatabase(tmp_path / "store.db"), threading.Event())
    record = record_of("devhost", lambda _: invoker.call(
        function, [b"{}"] * 2, Context(function.name, 0, 2), 2, ["Q-1", "Q-2"]
    ))  # fmt: skip
    assert record.levelno == logging.WARNING
    assert re.fullmatch(
        r"Q-1,Q-2 handle_quote_commands failed \d+\.\dms: RuntimeError\('store down'\) "
        r"batch=2 attempt=1/3",
        story(record),
    )
