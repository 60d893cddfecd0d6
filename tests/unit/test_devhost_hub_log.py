"""The SQLite hub logs behind the local host's Event Hubs triggers."""

import pytest

from adapters.sqlite_database import SqliteDatabase
from adapters.sqlite_log import SqliteHubLog, SqliteLogCommandPublisher, partition_for
from bootstrap import DEFAULTS
from domain.messages import CreatePolicy
from domain.registry import command_hubs, make_command
from tests.support.builders import ACCEPTED_PREMIUM, event

pytestmark = pytest.mark.unit

HUBS = command_hubs(DEFAULTS.__getitem__)  # every registered aggregate's


@pytest.fixture
def log(tmp_path):
    database = SqliteDatabase(tmp_path / "store.db")
    yield SqliteHubLog(database)
    database.close()


def command(policy_id, n=1):
    body = CreatePolicy(
        policyId=policy_id, quoteId=f"Q{n}", customerId="C1", premium=ACCEPTED_PREMIUM + n
    )
    return make_command(
        body,
        command_id=f"cmd-{policy_id}-{n}",
        correlation_id=f"Q{n}",
        causation_id="test",
        issued_at=event("quote-Q1", 1).timestamp,
    )


def test_the_partition_of_a_key_is_stable_and_spreads_keys():
    assert partition_for("P-1", 4) == partition_for("P-1", 4)
    assert {partition_for(f"P-{n}", 4) for n in range(40)} == {0, 1, 2, 3}


def test_sequence_numbers_count_from_zero_per_partition_with_byte_offsets(log):
    log.append("h", "key-a", [(b"one", {}), (b"two", {})])
    log.append("h", "key-a", [(b"three", {})])
    messages = log.read("h", partition_for("key-a", 4), -1, 10)
    assert [(m.sequence_number, m.offset, m.body) for m in messages] == [
        (0, 0, b"one"),
        (1, 3, b"two"),
        (2, 6, b"three"),
    ]
    assert log.read("h", partition_for("key-a", 4), 1, 10) == messages[2:]


def test_commands_go_to_their_aggregates_hub_keyed_by_aggregate_id_and_events_to_saga_events(
    log,
):
    publisher = SqliteLogCommandPublisher(log, HUBS, "saga-events")
    forwarded = event("quote-Q7", 1)
    publisher.publish([command("P-1"), command("P-1", 2)], [forwarded])

    [first, second] = log.read("policy-commands", partition_for("P-1", 4), -1, 10)
    assert (first.partition_key, first.properties["commandId"]) == ("P-1", "cmd-P-1-1")
    assert second.properties["commandId"] == "cmd-P-1-2"
    [sent] = log.read("saga-events", partition_for(forwarded.correlationId, 4), -1, 10)
    assert sent.properties["eventId"] == forwarded.eventId


def test_a_publish_inside_a_rolled_back_transaction_leaves_nothing(log):
    publisher = SqliteLogCommandPublisher(log, HUBS, "saga-events")

    def failing_invocation():
        with log.database.transaction(lazy=True):
            publisher.publish([command("P-2")])
            raise RuntimeError("the function failed")

    with pytest.raises(RuntimeError):
        failing_invocation()
    assert log.read("policy-commands", partition_for("P-2", 4), -1, 10) == []
