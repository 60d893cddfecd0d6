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
