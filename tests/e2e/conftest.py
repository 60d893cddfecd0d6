"""A failed e2e test shows the end of each log of the hosts it started: CI keeps only what
pytest prints, and a host's log is what says why it stopped serving."""

from __future__ import annotations

from collections.abc import Generator

import pytest

from tests.e2e.hosts import STARTED_LOGS

SHOWN_LINES = 80


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    report = (yield).get_result()
    if report.failed:
        for log in STARTED_LOGS:
            lines = log.read_text(errors="replace").splitlines() if log.exists() else []
            report.sections.append((f"{log.name}, its last lines", "\n".join(lines[-SHOWN_LINES:])))
    if report.when == "teardown":
        STARTED_LOGS.clear()
