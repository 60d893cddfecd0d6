"""One way to log about a message: the ids in the text and as structured fields."""

import logging

import pytest

from application.telemetry import log, parts

pytestmark = pytest.mark.unit


def test_a_log_line_names_the_ids_given_in_its_text_and_as_fields(caplog):
    logger = logging.getLogger("quoting.test")
    with caplog.at_level(logging.INFO, logger="quoting.test"):
        log(logger, logging.WARNING, "saga advanced", correlationId="Q1", eventId=None, n=2)
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage() == "saga advanced correlationId=Q1 n=2"  # None is left out
    assert record.custom_dimensions == {"correlationId": "Q1", "n": 2}
    assert (record.correlationId, record.n) == ("Q1", 2)
    assert not hasattr(record, "eventId")


class Unwritable:
    def __str__(self) -> str:
        raise AssertionError("a dropped line was written out")


def test_a_line_below_the_loggers_level_is_not_even_written_out(caplog):
    logger = logging.getLogger("quoting.test")
    with caplog.at_level(logging.WARNING, logger="quoting.test"):
        log(logger, logging.INFO, "saga advanced", correlationId=Unwritable())
    assert caplog.records == []


def test_a_line_logged_so_splits_back_into_what_happened_and_its_fields(caplog):
    logger = logging.getLogger("quoting.test")
    with caplog.at_level(logging.INFO, logger="quoting.test"):
        log(logger, logging.INFO, "saga advanced", correlationId="Q1", n=2)
        log(logger, logging.INFO, "nothing to add")
    first, second = caplog.records
    assert parts(first) == ("saga advanced", {"correlationId": "Q1", "n": 2})
    assert parts(second) == ("nothing to add", {})


def record(message: str, **extra: object) -> logging.LogRecord:
    line = logging.LogRecord("quoting.test", logging.INFO, __file__, 1, message, None, None)
    line.__dict__.update(extra)
    return line


@pytest.mark.parametrize(
    "line",
    [
        record("saga advanced correlationId=Q1"),  # no fields: another logger's line
        record("saga advanced correlationId=Q1", custom_dimensions="correlationId=Q1"),
        record("saga advanced", custom_dimensions={"correlationId": "Q1"}),  # text lost them
        record("saga advanced correlationId=Q2", custom_dimensions={"correlationId": "Q1"}),
    ],
)
def test_any_other_line_has_no_parts(line):
    assert parts(line) is None
