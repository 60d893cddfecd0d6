"""Durable leases with expiry and fenced checkpoints, shared by hosts on one data dir."""

import time

import pytest

from adapters.sqlite_database import SqliteDatabase
from devhost.leases import LeaseKeeper

pytestmark = pytest.mark.unit


@pytest.fixture
def database(tmp_path):
    database = SqliteDatabase(tmp_path / "store.db")
    yield database
    database.close()


def keeper(database, owner, names=("a", "b", "c", "d"), ttl=0.3):
    k = LeaseKeeper(database, owner, list(names), ttl)
    k.heartbeat()
    return k


def test_a_held_lease_is_not_taken_until_it_expires(database):
    first, second = keeper(database, "one", ["a"]), keeper(database, "two", ["a"])
    assert first.try_acquire("a")
    assert not second.try_acquire("a")
    time.sleep(0.35)  # `one` stopped renewing: as if killed
    assert second.try_acquire("a")
    assert not first.holds("a")


def test_only_the_owner_moves_a_checkpoint(database):
    first, second = keeper(database, "one", ["a"]), keeper(database, "two", ["a"])
    first.try_acquire("a")
    assert first.save_checkpoint("a", 10)
    time.sleep(0.35)
    second.try_acquire("a")
    assert not first.save_checkpoint("a", 99)  # fenced: `one` lost the lease meanwhile
    assert second.checkpoint("a") == 10
    assert second.save_checkpoint("a", 11)
    assert first.checkpoint("a") == 11


def test_hosts_share_the_leases_fairly_and_a_leaving_host_hands_its_share_over(database):
    first = keeper(database, "one", ttl=5)
    assert all(first.try_acquire(name) for name in "abcd")
    second = keeper(database, "two", ttl=5)
    first.heartbeat()  # learns that two hosts share four leases
    assert not second.try_acquire("a")
    released = [name for name in "abcd" if first.release_surplus(name)]
    assert released == ["a", "b"]
    assert [second.try_acquire(name) for name in "abcd"] == [True, True, False, False]
    first.forget_host()
    second.heartbeat()
    assert [second.try_acquire(name) for name in "cd"] == [True, True]


def test_a_host_reads_the_checkpoint_of_a_lease_it_holds_once_then_knows_it(database):
    first = keeper(database, "one", ["a"], ttl=5)
    first.try_acquire("a")
    selects = []
    database.connection().set_trace_callback(
        lambda sql: selects.append(sql) if sql.startswith("SELECT checkpoint") else None
    )
    assert first.checkpoint("a") is None
    assert first.save_checkpoint("a", 7)
    assert [first.checkpoint("a") for _ in range(3)] == [7, 7, 7]
    assert len(selects) == 1


def test_a_lease_taken_back_reads_the_checkpoint_another_host_moved_meanwhile(database):
    first = keeper(database, "one", ["a", "b"])  # alone when it looked: both are its share
    second = keeper(database, "two", ["a", "b"])
    first.try_acquire("a")
    assert first.save_checkpoint("a", 5)
    time.sleep(0.35)  # `one` stopped renewing
    assert second.try_acquire("a")
    assert second.checkpoint("a") == 5
    assert second.save_checkpoint("a", 20)
    time.sleep(0.35)  # and so did `two`; `one` takes it back before its next heartbeat
    assert first.try_acquire("a")
    assert first.checkpoint("a") == 20
    second.heartbeat()  # learns it lost the lease
    assert not second.holds("a")
    assert second.checkpoint("a") == 20
