"""Processes opening a new SQLite file at once (a host's two workers on a fresh data directory,
their writer processes): each one switches it to WAL without "database is locked"."""

from __future__ import annotations

import multiprocessing
import sys
from pathlib import Path

import pytest

from adapters.sqlite import SqliteEventStore

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(sys.platform != "linux", reason="forks six processes at once (Linux)"),
]


def open_store(path: str, start: multiprocessing.synchronize.Barrier, answers) -> None:  # type: ignore[no-untyped-def]
    start.wait()
    try:
        SqliteEventStore(path)
        answers.put("ok")
    except Exception as error:  # what the test reports
        answers.put(repr(error))


def test_six_processes_opening_a_new_file_at_once_all_open_it(tmp_path: Path) -> None:
    # Without the lock around the switch to WAL: 3 failures in 120 opens, measured.
    context = multiprocessing.get_context("fork")
    failed = []
    for round_ in range(20):
        path = str(tmp_path / f"store-{round_}.db")
        start, answers = context.Barrier(6), context.Queue()
        processes = [
            context.Process(target=open_store, args=(path, start, answers)) for _ in range(6)
        ]
        for process in processes:
            process.start()
        for process in processes:
            process.join(30)
        failed += [a for a in (answers.get(timeout=10) for _ in processes) if a != "ok"]
    assert failed == []
