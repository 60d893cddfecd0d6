"""EventHubsCommandPublisher with the real SDK against the AMQP stand-in: hubs, partition keys,
properties, batching and failures. One smoke test runs against a real namespace when configured."""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from adapters.eventhubs import (
    EventHubsCommandPublisher,
    EventTooLarge,
    create_eventhubs_publisher,
)
from application.ports import TransientFailure
from domain.messages import (
    ApproveQuote,
    CommandEnvelope,
    CreatePolicy,
    CreateQuote,
    RejectQuote,
    UpdateCustomerPolicyCount,
)
from domain.registry import Command, make_command
from tests.support.builders import ACCEPTED_PREMIUM, event
from tests.support.eventhubs_fixtures import receive_events
from tests.support.eventhubs_standin import EventHubsStandIn

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

AT = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def envelope(command: Command, quote_id: str, n: int = 1, traceparent: str | None = None):
    return make_command(
        command,
        command_id=f"cmd-{quote_id}-{n}",
        correlation_id=quote_id,
        causation_id=f"cause-{quote_id}-{n}",
        issued_at=AT,
        traceparent=traceparent,
    )


@pytest.fixture(scope="module")
def publisher(eventhubs_connection_string: str) -> Iterator[EventHubsCommandPublisher]:
    """Built by the app's factory from the same settings names the Functions app reads."""
    made = create_eventhubs_publisher(
        {"EventHubs": eventhubs_connection_string}.get, retry_total=1, retry_backoff_factor=0.1
    )
    yield made
    made.close()


def bodies(events) -> list[dict]:
    return [json.loads(e.body) for e in events]


def test_commands_reach_the_hub_of_their_aggregate_keyed_by_its_id_with_json_and_properties(
    publisher: EventHubsCommandPublisher,
    eventhubs_standin: EventHubsStandIn,
    eventhubs_connection_string: str,
) -> None:
    quote, policy, customer = unique("Q"), unique("P"), unique("C")
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    create = envelope(
        CreateQuote(quoteId=quote, customerId=customer, premium=ACCEPTED_PREMIUM), quote, 1
    )
    approve = envelope(ApproveQuote(quoteId=quote), quote, 2, traceparent)
    create_policy = envelope(
        CreatePolicy(policyId=policy, quoteId=quote, customerId=customer, premium=ACCEPTED_PREMIUM),
        quote,
        3,
    )
    count = envelope(
        UpdateCustomerPolicyCount(customerId=customer, policyId=policy, quoteId=quote), quote, 4
    )
    saga_event = event(f"saga-{quote}", 1, event_type="PolicyRequested", correlation_id=quote)

    publisher.publish([create, approve, create_policy, count], events=[saga_event])

    partition = eventhubs_standin.partition_for("quote-commands", quote)
    received = receive_events(
        eventhubs_connection_string,
        "quote-commands",
        partition,
        2,
        where=lambda e: e.partition_key == quote.encode(),
    )
    assert [e.body_as_json() for e in received] == [
        json.loads(create.model_dump_json()),
        json.loads(approve.model_dump_json()),
    ]
    assert [e.content_type for e in received] == ["application/json"] * 2
    assert received[1].properties == {
        b"commandType": b"ApproveQuote",
        b"commandId": approve.commandId.encode(),
        b"correlationId": quote.encode(),
        b"causationId": approve.causationId.encode(),
        b"traceparent": traceparent.encode(),
        b"schemaVersion": 1,
    }
    assert b"traceparent" not in received[0].properties
    policy_events = eventhubs_standin.events(
        "policy-commands", eventhubs_standin.partition_for("policy-commands", policy)
    )
    assert [e.partition_key for e in policy_events if e.partition_key == policy] == [policy]
    customer_events = eventhubs_standin.events(
        "customer-commands", eventhubs_standin.partition_for("customer-commands", customer)
    )
    assert [CommandEnvelope.model_validate_json(e.body) for e in customer_events][-1] == count
    saga = eventhubs_standin.events(
        "saga-events", eventhubs_standin.partition_for("saga-events", quote)
    )[-1]
    assert saga.partition_key == quote
    assert saga.application_properties == {
        "eventType": "PolicyRequested",
        "eventId": saga_event.eventId,
        "correlationId": quote,
        "causationId": saga_event.causationId,
        "schemaVersion": 1,
    }
    assert json.loads(saga.body) == saga_event.model_dump(mode="json")


def test_customer_commands_of_two_quotes_of_one_customer_go_to_one_partition_in_order(
    publisher: EventHubsCommandPublisher, eventhubs_standin: EventHubsStandIn
) -> None:
    customer, policy = unique("C"), unique("P")
    first, second = unique("Q"), unique("Q")
    commands = [
        envelope(UpdateCustomerPolicyCount(customerId=customer, policyId=policy, quoteId=q), q)
        for q in (first, second)
    ]

    publisher.publish(commands[:1])
    publisher.publish(commands[1:])

    partition = eventhubs_standin.partition_for("customer-commands", customer)
    mine = [e for e in eventhubs_standin.events("customer-commands") if e.partition_key == customer]
    assert [json.loads(e.body)["correlationId"] for e in mine] == [first, second]
    assert mine == [
        e for e in eventhubs_standin.events("customer-commands", partition) if e in mine
    ]


def test_many_commands_in_one_call_go_out_as_one_send_per_partition_key(
    publisher: EventHubsCommandPublisher, eventhubs_standin: EventHubsStandIn
) -> None:
    quotes = [unique("Q"), unique("Q")]
    commands = [
        envelope(RejectQuote(quoteId=q, reason=f"reason {n}"), q, n)
        for n in range(1, 51)
        for q in quotes
    ]
    before = eventhubs_standin.sends("quote-commands")

    publisher.publish(commands)

    assert eventhubs_standin.sends("quote-commands") - before == 2
    for q in quotes:
        stored = [e for e in eventhubs_standin.events("quote-commands") if e.partition_key == q]
        assert [b["commandId"] for b in bodies(stored)] == [f"cmd-{q}-{n}" for n in range(1, 51)]


def test_commands_that_overflow_one_batch_are_split_into_more_sends_and_arrive_in_order(
    publisher: EventHubsCommandPublisher, eventhubs_standin: EventHubsStandIn
) -> None:
    quote = unique("Q")
    reason = "x" * 20_000  # about three of these fit under the stand-in's 64 KiB limit
    commands = [envelope(RejectQuote(quoteId=quote, reason=reason), quote, n) for n in range(10)]
    before = eventhubs_standin.sends("quote-commands")

    publisher.publish(commands)

    sends = eventhubs_standin.sends("quote-commands") - before
    assert 4 <= sends < 10
    stored = [e for e in eventhubs_standin.events("quote-commands") if e.partition_key == quote]
    assert [b["commandId"] for b in bodies(stored)] == [c.commandId for c in commands]


def test_a_command_too_large_for_any_batch_raises_and_nothing_of_the_call_is_sent(
    publisher: EventHubsCommandPublisher, eventhubs_standin: EventHubsStandIn
) -> None:
    quote = unique("Q")
    small = envelope(ApproveQuote(quoteId=quote), quote, 1)
    huge = envelope(RejectQuote(quoteId=quote, reason="x" * 100_000), quote, 2)
    before = {hub: eventhubs_standin.sends(hub) for hub in eventhubs_standin.hubs}

    with pytest.raises(EventTooLarge, match=f"RejectQuote cmd-{quote}-2"):
        publisher.publish([small, huge])

    assert {hub: eventhubs_standin.sends(hub) for hub in eventhubs_standin.hubs} == before


def test_an_unreachable_namespace_raises_transient_failure_naming_the_hub_within_seconds() -> None:
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = {
        "EventHubs": f"Endpoint=sb://127.0.0.1:{port};SharedAccessKeyName=k;"
        "SharedAccessKey=v;UseDevelopmentEmulator=true"
    }
    unreachable = create_eventhubs_publisher(
        settings.get, retry_total=1, retry_backoff_factor=0.1, retry_backoff_max=0.5
    )
    quote = unique("Q")
    started = time.monotonic()

    with pytest.raises(TransientFailure, match="quote-commands"):
        unreachable.publish([envelope(ApproveQuote(quoteId=quote), quote)])

    assert time.monotonic() - started < 15
    unreachable.close()


def test_close_releases_the_producers_and_the_next_publish_opens_new_ones(
    eventhubs_connection_string: str, eventhubs_standin: EventHubsStandIn
) -> None:
    own = create_eventhubs_publisher({"EventHubs": eventhubs_connection_string}, retry_total=0)
    quote = unique("Q")
    own.publish([envelope(ApproveQuote(quoteId=quote), quote, 1)])
    own.close()

    own.publish([envelope(ApproveQuote(quoteId=quote), quote, 2)])
    own.close()

    stored = [e for e in eventhubs_standin.events("quote-commands") if e.partition_key == quote]
    assert [b["commandId"] for b in bodies(stored)] == [f"cmd-{quote}-1", f"cmd-{quote}-2"]


def test_the_factory_refuses_settings_without_a_namespace_or_connection_string() -> None:
    with pytest.raises(ValueError, match="EventHubs__fullyQualifiedNamespace"):
        create_eventhubs_publisher({"QUOTE_COMMANDS_HUB": "quote-commands"})


def test_the_factory_signs_in_with_the_managed_identity_when_a_namespace_is_set() -> None:
    settings = {
        "EventHubs__fullyQualifiedNamespace": "example.servicebus.windows.net",
        "EventHubs__clientId": "00000000-0000-0000-0000-000000000001",
        "QUOTE_COMMANDS_HUB": "quotes-x",
    }
    asked: list[dict] = []

    def credential(**options):
        asked.append(options)
        return object()

    made = create_eventhubs_publisher(settings, credential_factory=credential)
    assert asked == []  # nothing is created before the first use

    producer = made._producer("quotes-x")  # opens no connection until the first send
    made._producer("saga-events")

    assert asked == [{"managed_identity_client_id": "00000000-0000-0000-0000-000000000001"}]
    assert producer._address.hostname == "example.servicebus.windows.net"
    assert producer.eventhub_name == "quotes-x"
    made.close()


@pytest.mark.skipif(
    not os.environ.get("EVENTHUBS_CONNECTION_STRING"),
    reason="EVENTHUBS_CONNECTION_STRING is not set (a real namespace or the official emulator "
    "with the hubs of infra/emulators/eventhubs-config.json)",
)
def test_smoke_a_command_and_an_event_are_accepted_by_a_real_namespace_or_the_emulator() -> None:
    real = create_eventhubs_publisher(
        {"EventHubs": os.environ["EVENTHUBS_CONNECTION_STRING"]}, retry_total=2
    )
    quote = unique("Q")
    try:
        real.publish(
            [envelope(ApproveQuote(quoteId=quote), quote)],
            events=[event(f"saga-{quote}", 1, correlation_id=quote)],
        )
    finally:
        real.close()
