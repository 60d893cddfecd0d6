"""One way to log about a message: the ids in the text and as structured fields."""

import logging

import pytest

from application.telemetry import log

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
