"""The Cosmos DB request budget, counted at the HTTP transport (every request the SDK sends,
its retries and metadata reads included): appending a command's events is one request, reading
a stream of up to 100 events is one, a command on a warm worker is one, on a cold one two.

The SDK reads account and container metadata the first time a client touches a container; each
test warms its client up first, as a long-lived worker is, and counts only what follows.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from adapters.cosmos import CosmosEventStore
from adapters.cosmos_account import create_cosmos_client
from application.commands import CommandHandler
from domain.messages import ApproveQuote, CreateQuote, make_command
from tests.support.builders import batch
from tests.support.cosmos_server import CosmosAccount

pytestmark = pytest.mark.integration
pytest_plugins = ["tests.support.cosmos_fixtures"]

AT = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(cosmos_containers):
    store = CosmosEventStore(cosmos_containers["events"])
    warm = f"quote-warm-{uuid.uuid4().hex[:8]}"
    store.append(warm, 0, batch(warm, 0, 1), "warm-1")
    store.append(warm, 1, batch(warm, 1, 1), "warm-2")
    store.read_stream(warm)
    return store


def _stream() -> str:
    return f"quote-{uuid.uuid4().hex[:12]}"


def _fill(store, stream: str, count: int) -> None:
    for start in range(0, count, 50):
        size = min(50, count - start)
        store.append(stream, start, batch(stream, start, size), f"fill-{start}")


def _kinds(sent: list[str]) -> list[str]:
    return [entry.split()[0] for entry in sent]


def test_appending_one_commands_events_is_one_request(store, cosmos: CosmosAccount):
    stream = _stream()
    _fill(store, stream, 5)

    with cosmos.transport.counting() as sent:
        store.append(stream, 5, batch(stream, 5, 3), "cmd-next")

    assert _kinds(sent) == ["batch"], sent


def test_a_redelivered_command_is_refused_in_one_request(store, cosmos: CosmosAccount):
    stream = _stream()
    store.append(stream, 0, batch(stream, 0, 2), "cmd-1")

    with cosmos.transport.counting() as sent:
        store.append(stream, 0, batch(stream, 0, 2), "cmd-1")

    assert _kinds(sent) == ["batch"], sent


@pytest.mark.parametrize("length", [0, 1, 37, 99, 100])
def test_reading_a_stream_of_up_to_100_events_is_one_request(
    store, cosmos: CosmosAccount, length: int
):
    stream = _stream()
    _fill(store, stream, length)

    with cosmos.transport.counting() as sent:
        events = store.read_stream(stream)

    assert len(events) == length
    assert _kinds(sent) == ["query"], sent


def test_reading_a_stream_of_250_events_pages_in_three_requests(store, cosmos: CosmosAccount):
    stream = _stream()
    _fill(store, stream, 250)

    with cosmos.transport.counting() as sent:
        events = store.read_stream(stream)

    assert [e.sequenceNumber for e in events] == list(range(1, 251))
    assert _kinds(sent) == ["query"] * 3, sent


def _command(command, n: int):
    return make_command(
        command, command_id=f"cmd-{n}", correlation_id="corr-1", causation_id="cause", issued_at=AT
    )


def test_a_command_on_a_cold_worker_reads_then_appends_in_two_requests(
    store, cosmos: CosmosAccount
):
    quote = uuid.uuid4().hex[:12]
    CommandHandler(store, clock=lambda: AT).handle(
        _command(CreateQuote(quoteId=quote, customerId="C1", premium=100.0), 1)
    )
    cold = CommandHandler(store, clock=lambda: AT)  # a fresh worker: nothing cached

    with cosmos.transport.counting() as sent:
        decision = cold.handle(_command(ApproveQuote(quoteId=quote), 2))

    assert decision.outcome == "appended"
    assert _kinds(sent) == ["query", "batch"], sent


def test_a_command_on_a_warm_worker_only_appends_in_one_request(store, cosmos: CosmosAccount):
    quote = uuid.uuid4().hex[:12]
    handler = CommandHandler(store, clock=lambda: AT)
    handler.handle(_command(CreateQuote(quoteId=quote, customerId="C1", premium=100.0), 1))

    with cosmos.transport.counting() as sent:
        decision = handler.handle(_command(ApproveQuote(quoteId=quote), 2))

    assert decision.outcome == "appended"
    assert decision.version == 2
    assert _kinds(sent) == ["batch"], sent


def test_a_new_client_reads_metadata_on_first_use_only(
    cosmos: CosmosAccount, cosmos_database, cosmos_containers
):
    client = create_cosmos_client(
        {"CosmosDb": cosmos.connection_string}.get, transport=cosmos.transport
    )
    database = client.get_database_client(cosmos_database.id)
    store = CosmosEventStore(database.get_container_client(cosmos_containers["events"].id))
    stream = _stream()

    with cosmos.transport.counting() as first:
        store.append(stream, 0, batch(stream, 0, 1), "cmd-1")
        store.read_stream(stream)
    with cosmos.transport.counting() as then:
        store.append(stream, 1, batch(stream, 1, 1), "cmd-2")
        store.read_stream(stream)

    assert "other" in _kinds(first), first  # container properties, once per client
    assert _kinds(then) == ["batch", "query"], then
