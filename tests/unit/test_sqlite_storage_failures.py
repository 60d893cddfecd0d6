"""A database that cannot take writes (full, read-only) is a StorageUnavailable naming the
real cause — a transient failure the API answers with 503 — never SQLite's follow-up error
"cannot rollback - no transaction is active"; nothing committed before is lost."""

from __future__ import annotations

import pytest

from adapters.sqlite import SqliteEventStore
from adapters.sqlite_database import SqliteDatabase, StorageUnavailable
from application.ports import TransientFailure
from tests.support.builders import batch

pytestmark = pytest.mark.unit


@pytest.fixture
def store(tmp_path):
    database = SqliteDatabase(tmp_path / "store.db")
    store = SqliteEventStore(database)
    yield store
    database.close()


def fill_up(store: SqliteEventStore) -> int:
    """Cap the file at its current size, then append until it is full; events appended."""
    conn = store.database.connection()
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages + 2}")
    for n in range(1, 10_000):
        try:
            store.append(f"quote-Q{n}", 0, batch(f"quote-Q{n}", 0, 1), f"cmd-{n}")
        except StorageUnavailable:
            return n - 1
    raise AssertionError("the database never filled up")


def test_a_full_database_is_storage_unavailable_with_the_real_cause(store):
    fill_up(store)
    with pytest.raises(StorageUnavailable, match="database or disk is full") as raised:
        store.append("quote-late", 0, batch("quote-late", 0, 1), "cmd-late")
    assert isinstance(raised.value, TransientFailure)
    assert "cannot rollback" not in str(raised.value)


def test_a_full_database_inside_a_shared_transaction_keeps_the_real_cause(store):
    fill_up(store)

    def append_many() -> None:
        with store.transaction(lazy=True):
            for n in range(50):
                store.append(f"quote-T{n}", 0, batch(f"quote-T{n}", 0, 20), f"cmd-T{n}")

    with pytest.raises(StorageUnavailable, match="full"):
        append_many()


def test_nothing_committed_is_lost_and_writes_resume_when_space_returns(store):
    appended = fill_up(store)
    store.database.connection().execute("PRAGMA max_page_count = 1073741823")
    store.append("quote-after", 0, batch("quote-after", 0, 1), "cmd-after")
    streams = {e.streamId for _, e in store.read_all(0, 100_000)}
    assert {f"quote-Q{n}" for n in range(1, appended + 1)} | {"quote-after"} == streams


def test_a_read_only_database_is_storage_unavailable(store):
    store.database.connection().execute("PRAGMA query_only = ON")
    with pytest.raises(StorageUnavailable, match="readonly"):
        store.append("quote-ro", 0, batch("quote-ro", 0, 1), "cmd-ro")
