"""CosmosEventStore against a Cosmos-protocol server: batches, command keys, paging, sizes,
failures."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from azure.core.exceptions import ServiceRequestError
from azure.core.pipeline.transport import RequestsTransport
from azure.cosmos import PartitionKey

from adapters.cosmos import BatchTooLarge, CosmosEventStore
from adapters.cosmos_account import create_cosmos_client, stores_from_settings
from application.ports import ConcurrencyConflict, Outcome, TransientFailure
from application.read_model import QuoteView
from bootstrap import Settings
from domain.errors import Unprocessable
from tests.support.builders import batch, event
from tests.support.cosmos_server import CosmosAccount

pytestmark = pytest.mark.integration
pytest_plugins = ["tests.support.cosmos_fixtures"]


@pytest.fixture
def store(cosmos_containers) -> CosmosEventStore:
    return CosmosEventStore(cosmos_containers["events"])


@pytest.fixture
def stream() -> str:
    return f"quote-{uuid.uuid4().hex[:12]}"


def test_appends_a_commands_events_and_reads_them_back_in_order(store, stream):
    assert store.append(stream, 0, batch(stream, 0, 3), "cmd-1") is Outcome.APPENDED
    assert store.append(stream, 3, batch(stream, 3, 2), "cmd-2") is Outcome.APPENDED

    events = store.read_stream(stream)

    assert [e.sequenceNumber for e in events] == [1, 2, 3, 4, 5]
    assert events == batch(stream, 0, 5)


def test_reads_only_the_events_after_the_given_version(store, stream):
    store.append(stream, 0, batch(stream, 0, 4), "cmd-1")

    assert [e.sequenceNumber for e in store.read_stream(stream, after=2)] == [3, 4]
    assert store.read_stream(stream, after=4) == []


def test_an_unknown_stream_reads_as_empty(store):
    assert store.read_stream("quote-never-written") == []


def test_a_redelivered_command_is_already_handled_and_appends_nothing(store, stream):
    store.append(stream, 0, batch(stream, 0, 2), "cmd-1")

    again = store.append(stream, 0, batch(stream, 0, 2, tag="again"), "cmd-1")
    later = store.append(stream, 2, batch(stream, 2, 1, tag="later"), "cmd-1")

    assert again is later is Outcome.ALREADY_HANDLED
    assert store.read_stream(stream) == batch(stream, 0, 2)


def test_a_second_writer_of_the_same_version_gets_a_concurrency_conflict(store, stream):
    store.append(stream, 0, batch(stream, 0, 2, tag="first"), "cmd-first")

    with pytest.raises(ConcurrencyConflict):
        store.append(stream, 1, batch(stream, 1, 2, tag="rival"), "cmd-rival")

    assert store.read_stream(stream) == batch(stream, 0, 2, tag="first")


def test_an_append_ahead_of_the_stream_conflicts_and_appends_nothing(store, stream):
    store.append(stream, 0, batch(stream, 0, 2), "cmd-1")

    with pytest.raises(ConcurrencyConflict, match="not reached version 3"):
        store.append(stream, 3, batch(stream, 3, 1, tag="ahead"), "cmd-2")

    assert store.read_stream(stream) == batch(stream, 0, 2)
    assert store.append(stream, 2, batch(stream, 2, 1), "cmd-2") is Outcome.APPENDED


def test_a_conflicting_command_leaves_no_receipt_and_succeeds_once_reloaded(store, stream):
    store.append(stream, 0, batch(stream, 0, 1, tag="first"), "cmd-first")
    with pytest.raises(ConcurrencyConflict):
        store.append(stream, 0, batch(stream, 0, 2, tag="rival"), "cmd-rival")

    retried = store.append(stream, 1, batch(stream, 1, 2, tag="rival"), "cmd-rival")

    assert retried is Outcome.APPENDED
    assert [e.eventId for e in store.read_stream(stream)][1:] == [
        e.eventId for e in batch(stream, 1, 2, tag="rival")
    ]


def _partition(container, stream: str) -> list[dict[str, Any]]:
    return list(
        container.query_items(
            "SELECT * FROM c WHERE c.streamId = @s ORDER BY c.id",
            parameters=[{"name": "@s", "value": stream}],
            partition_key=stream,
        )
    )


def test_an_append_stores_only_its_events_each_keyed_by_the_command(
    store, stream, cosmos_containers
):
    store.append(stream, 0, batch(stream, 0, 2), "cmd-1")

    stored = _partition(cosmos_containers["events"], stream)

    assert [(d["docType"], d["commandKey"]) for d in stored] == [
        ("event", "cmd-1:1"),
        ("event", "cmd-1:2"),
    ]


def test_a_command_whose_receipt_an_older_version_wrote_is_already_handled(
    store, stream, cosmos_containers
):
    # Before receipts were folded into the events, each append wrote `receipt:{commandId}`; a
    # copy into a keyed container (docs/cosmos.md) gives every document a distinct commandKey,
    # here the event its id: only the receipt tells that cmd-old was handled.
    events = batch(stream, 0, 1)
    legacy = {"id": "receipt:cmd-old", "streamId": stream, "docType": "receipt",
              "commandId": "cmd-old", "version": 1, "commandKey": "receipt:cmd-old"}  # fmt: skip
    legacy_event = {**events[0].to_document(), "commandKey": events[0].id}
    cosmos_containers["events"].execute_item_batch(
        [("create", (legacy,)), ("create", (legacy_event,))], partition_key=stream
    )

    stale = store.append(stream, 0, batch(stream, 0, 1, tag="again"), "cmd-old")

    assert stale is Outcome.ALREADY_HANDLED
    assert store.read_stream(stream) == events


def test_reads_a_stream_longer_than_one_page_in_sequence_order(store, stream):
    for command, after in enumerate(range(0, 250, 50)):
        store.append(stream, after, batch(stream, after, 50), f"cmd-{command}")

    assert [e.sequenceNumber for e in store.read_stream(stream)] == list(range(1, 251))
    assert [e.sequenceNumber for e in store.read_stream(stream, after=180)] == list(range(181, 251))


def test_a_command_with_more_events_than_one_batch_holds_is_refused_whole(store, stream):
    assert store.append(stream, 0, batch(stream, 0, 99), "cmd-fits") is Outcome.APPENDED

    with pytest.raises(BatchTooLarge, match="at most 99 events"):
        store.append(stream, 99, batch(stream, 99, 100), "cmd-too-big")

    assert len(store.read_stream(stream)) == 99


@pytest.mark.parametrize("command_id", ["a/b", "a\\b", "a?b", "a#b", ""])
def test_a_command_id_cosmos_cannot_hold_in_an_id_is_unprocessable(store, stream, command_id):
    with pytest.raises(Unprocessable, match="cannot be part of a Cosmos DB id"):
        store.append(stream, 0, batch(stream, 0, 1), command_id)
    assert store.read_stream(stream) == []


def _heavy(stream: str, after: int, count: int, size: int) -> list:
    """`count` events after `after`, each carrying about `size` bytes of data."""
    return [event(stream, after + n, data={"blob": "x" * size}) for n in range(1, count + 1)]


@pytest.mark.parametrize("after", [0, 1], ids=["new stream", "existing stream"])
def test_a_command_whose_events_exceed_2_mb_is_refused_whole(store, stream, after):
    if after:
        store.append(stream, 0, batch(stream, 0, 1), "cmd-first")

    with pytest.raises(BatchTooLarge, match="2 MB"):
        store.append(stream, after, _heavy(stream, after, 3, 800_000), "cmd-heavy")

    assert len(store.read_stream(stream)) == after
    assert store.append(stream, after, batch(stream, after, 1), "cmd-heavy") is (Outcome.APPENDED)


def test_one_event_over_2_mb_is_refused_as_a_batch_too_large(store, stream):
    with pytest.raises(BatchTooLarge, match="exceed the 2 MB"):
        store.append(stream, 0, _heavy(stream, 0, 1, 2_500_000), "cmd-huge")

    assert store.read_stream(stream) == []


def test_events_that_together_stay_under_2_mb_are_appended(store, stream):
    heavy = _heavy(stream, 0, 2, 900_000)

    assert store.append(stream, 0, heavy, "cmd-heavy") is Outcome.APPENDED
    assert store.read_stream(stream) == heavy


def test_events_that_are_not_the_streams_next_are_refused_before_any_request(store, stream):
    with pytest.raises(ValueError, match="expected 1"):
        store.append(stream, 0, batch(stream, 1, 2), "cmd-1")

    assert store.read_stream(stream) == []


class ThrottledTransport(RequestsTransport):
    """Answers every batch (and only batches) with 429, as a busy account does."""

    def send(self, request: Any, **kwargs: Any) -> Any:
        response = super().send(request, **kwargs)
        if request.headers.get("x-ms-cosmos-is-batch-request") == "True":
            response.status_code = 429
            response.headers["x-ms-retry-after-ms"] = "1"
        return response


def test_throttling_that_outlasts_the_sdk_retries_is_a_transient_failure(
    cosmos: CosmosAccount, cosmos_database, cosmos_containers, stream
):
    client = create_cosmos_client(
        {"CosmosDb": cosmos.connection_string}.get,
        transport=ThrottledTransport(),
        retry_throttle_total=2,
    )
    database = client.get_database_client(cosmos_database.id)
    container = database.get_container_client(cosmos_containers["events"].id)

    with pytest.raises(TransientFailure, match="429"):
        CosmosEventStore(container).append(stream, 0, batch(stream, 0, 1), "cmd-1")


class SeveredTransport(RequestsTransport):
    """A network that goes away once `severed` is set: every request fails to connect."""

    severed = False

    def send(self, request: Any, **kwargs: Any) -> Any:
        if self.severed:
            raise ServiceRequestError("connection refused (severed by the test)")
        return super().send(request, **kwargs)


def test_a_lost_connection_is_a_transient_failure(
    cosmos: CosmosAccount, cosmos_database, cosmos_containers, stream
):
    transport = SeveredTransport()
    client = create_cosmos_client(
        {"CosmosDb": cosmos.connection_string}.get, transport=transport, retry_total=0
    )
    database = client.get_database_client(cosmos_database.id)
    store = CosmosEventStore(database.get_container_client(cosmos_containers["events"].id))
    store.read_stream(stream)  # connected and warm

    transport.severed = True

    with pytest.raises(TransientFailure):
        store.read_stream(stream)
    with pytest.raises(TransientFailure):
        store.append(stream, 0, batch(stream, 0, 1), "cmd-1")


def test_an_unreachable_account_is_a_transient_failure_when_the_client_is_made():
    with pytest.raises(TransientFailure):
        create_cosmos_client(
            {"CosmosDb": "AccountEndpoint=http://127.0.0.1:9/;AccountKey=a2V5;"}.get,
            retry_total=0,
            retry_connect=0,
        )


def test_a_client_needs_an_endpoint_or_a_connection_string():
    with pytest.raises(ValueError, match="CosmosDb__accountEndpoint"):
        create_cosmos_client({}.get)


def test_concurrent_writers_leave_a_gap_free_stream_and_each_command_once_or_refused(store, stream):
    outcomes: dict[str, object] = {}

    def write(command: str) -> None:
        version = len(store.read_stream(stream))
        try:
            outcomes[command] = store.append(
                stream, version, batch(stream, version, 2, tag=command), command
            )
        except ConcurrencyConflict as conflict:
            outcomes[command] = conflict

    _run_threads(write, [f"cmd-{n}" for n in range(12)])

    events = store.read_stream(stream)
    appended = [c for c, o in outcomes.items() if o is Outcome.APPENDED]
    assert [e.sequenceNumber for e in events] == list(range(1, len(events) + 1))
    assert sorted(e.data["tag"] for e in events) == sorted(c for c in appended for _ in (1, 2))
    assert all(isinstance(o, ConcurrencyConflict) for c, o in outcomes.items() if c not in appended)


def test_concurrent_writers_that_retry_on_conflict_each_land_exactly_once(store, stream):
    commands = [f"cmd-{n}" for n in range(8)]

    def write(command: str) -> None:
        while True:
            version = len(store.read_stream(stream))
            try:
                store.append(stream, version, batch(stream, version, 1, tag=command), command)
                return
            except ConcurrencyConflict:
                continue

    _run_threads(write, commands)

    events = store.read_stream(stream)
    assert [e.sequenceNumber for e in events] == list(range(1, len(commands) + 1))
    assert sorted(e.data["tag"] for e in events) == sorted(commands)


def _run_threads(target, arguments) -> None:
    start = threading.Barrier(len(arguments))
    errors: list[BaseException] = []

    def run(argument) -> None:
        start.wait()
        try:
            target(argument)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(a,)) for a in arguments]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors


def test_the_stores_come_from_the_apps_settings_on_one_client(cosmos: CosmosAccount, stream):
    suffix = uuid.uuid4().hex[:8]
    settings = {
        "CosmosDb": cosmos.connection_string,
        "COSMOS_DATABASE": f"settings-{suffix}",
        "EVENTS_CONTAINER": f"ev-{suffix}",
        "SAGAS_CONTAINER": f"sg-{suffix}",
        "COSMOS_ENSURE_CONTAINERS": "true",
    }

    stores = stores_from_settings(Settings(settings).get)

    assert set(stores) == {"store", "saga_store", "views", "dead_letters"}
    assert stores["saga_store"]._container.id == f"sg-{suffix}"
    stores["store"].append(stream, 0, batch(stream, 0, 1), "cmd-1")
    stores["store"].append(stream, 1, batch(stream, 1, 1), "cmd-2")
    assert stores["store"].read_stream(stream) == batch(stream, 0, 2)
    stores["views"].save(QuoteView(id="Q1"), None)
    assert stores["views"].get("Q1").view == QuoteView(id="Q1")
    create_cosmos_client(settings.get).delete_database(settings["COSMOS_DATABASE"])


def test_an_events_container_without_the_command_key_is_refused_before_any_command(cosmos):
    suffix = uuid.uuid4().hex[:8]
    settings = {
        "CosmosDb": cosmos.connection_string,
        "COSMOS_DATABASE": f"unkeyed-{suffix}",
        "EVENTS_CONTAINER": f"old-{suffix}",
        "COSMOS_ENSURE_CONTAINERS": "true",
    }
    client = create_cosmos_client(settings.get)
    database = client.create_database_if_not_exists(settings["COSMOS_DATABASE"])
    database.create_container(f"old-{suffix}", PartitionKey("/streamId"))  # as before the key

    with pytest.raises(ValueError, match=f"container 'old-{suffix}' has no unique key on /com"):
        stores_from_settings(Settings(settings).get)
    client.delete_database(settings["COSMOS_DATABASE"])
