"""Group commit: writers that queue behind one another share one SQLite commit (one fsync with
synchronous=FULL), each still in its own savepoint, and none returns before that commit."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from adapters.sqlite import SqliteEventStore
from adapters.sqlite_database import SqliteDatabase
from tests.support.builders import batch

pytestmark = pytest.mark.unit

QUEUED = 4


def run_queued_writers(database: SqliteDatabase, fail: int | None = None) -> dict[int, str]:
    """One writer holds the write turn while QUEUED others queue behind it; writer `fail`
    raises after its append. Each writer, once its transaction returned, records whether
    another connection to the file already sees its stream."""
    store, observer = SqliteEventStore(database), SqliteEventStore(database.path)
    seen: dict[int, str] = {}
    holding = threading.Event()

    def write(n: int) -> None:
        try:
            with store.transaction():
                store.append(f"quote-Q{n}", 0, batch(f"quote-Q{n}", 0, 1), f"cmd-{n}")
                if n == 0:
                    holding.set()
                    time.sleep(0.3)  # the others queue meanwhile
                if n == fail:
                    raise RuntimeError("handler failed")
        except RuntimeError:
            seen[n] = "failed"
            return
        seen[n] = "visible" if observer.read_stream(f"quote-Q{n}") else "not yet committed"

    first = threading.Thread(target=write, args=(0,))
    first.start()
    holding.wait(10)
    others = [threading.Thread(target=write, args=(n,)) for n in range(1, QUEUED + 1)]
    for thread in others:
        thread.start()
    for thread in [first, *others]:
        thread.join(60)
    observer.close()
    return seen


def test_writers_queued_behind_one_another_share_one_commit_and_return_after_it(
    tmp_path: Path,
) -> None:
    database = SqliteDatabase(tmp_path / "store.db")
    SqliteEventStore(database)
    before = database.stats().get("commits", 0)

    seen = run_queued_writers(database)

    assert seen == dict.fromkeys(range(QUEUED + 1), "visible")
    assert database.stats()["commits"] - before <= 2  # 5 units, not 5 fsyncs
    database.close()


def test_a_failed_writer_in_a_group_undoes_only_its_own_work(tmp_path: Path) -> None:
    database = SqliteDatabase(tmp_path / "store.db")
    store = SqliteEventStore(database)

    seen = run_queued_writers(database, fail=2)

    assert seen == {n: "failed" if n == 2 else "visible" for n in range(QUEUED + 1)}
    assert {e.streamId for _, e in store.read_all()} == {
        f"quote-Q{n}" for n in range(QUEUED + 1) if n != 2
    }
    database.close()


def test_writing_through_a_second_database_object_inside_a_transaction_is_refused(
    tmp_path: Path,
) -> None:
    first = SqliteEventStore(SqliteDatabase(tmp_path / "store.db"))
    second = SqliteEventStore(SqliteDatabase(tmp_path / "store.db"))
    with first.transaction():
        first.append("quote-A", 0, batch("quote-A", 0, 1), "cmd-1")
        with pytest.raises(RuntimeError, match="another database object"):
            second.append("quote-B", 0, batch("quote-B", 0, 1), "cmd-1")
    assert [e.streamId for _, e in second.read_all()] == ["quote-A"]
