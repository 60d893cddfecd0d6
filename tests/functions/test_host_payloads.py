"""The local host's trigger data, decoded by azure-functions' own converters, gives the
function what the worker gives it in Azure: every field of the host's shapes survives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import azure.functions as func
import pytest

from devhost import payloads

pytestmark = pytest.mark.functions

ENQUEUED = datetime(2026, 12, 1, 9, 30, 15, 123456, tzinfo=UTC)


def hub_events(count: int) -> list[payloads.HubEvent]:
    return [
        payloads.HubEvent(
            body=b'{"n": %d}\xff' % i,  # bodies arrive byte for byte, UTF-8 or not
            partition_key=f"policy-{i}",
            sequence_number=40 + i,
            offset=4096 * i,
            enqueued_time=ENQUEUED + timedelta(seconds=i),
            properties={"correlationId": f"Q{i}"},
        )
        for i in range(count)
    ]


def test_a_hub_batch_arrives_as_a_list_of_events_with_their_system_properties():
    sent = hub_events(3)
    host_data = payloads.event_hub_batch(sent, "policy-commands", "policy-handler", "2")
    received = payloads.decode("eventHubTrigger", host_data)
    assert isinstance(received, list)
    assert [e.get_body() for e in received] == [e.body for e in sent]
    assert [e.partition_key for e in received] == [e.partition_key for e in sent]
    assert [e.sequence_number for e in received] == [e.sequence_number for e in sent]
    assert [int(e.offset) for e in received] == [e.offset for e in sent]
    assert [e.enqueued_time for e in received] == [e.enqueued_time for e in sent]
    context = received[0].metadata["PartitionContext"]
    assert (context["EventHubName"], context["ConsumerGroup"], context["PartitionId"]) == (
        "policy-commands",
        "policy-handler",
        "2",
    )
    assert received[2].metadata["PropertiesArray"][2] == {"correlationId": "Q2"}


def test_a_single_hub_event_arrives_with_its_metadata():
    (sent,) = hub_events(1)
    received = payloads.decode(
        "eventHubTrigger", payloads.event_hub_event(sent, "quote-commands", "$Default", "0")
    )
    assert isinstance(received, func.EventHubEvent)
    assert received.get_body() == sent.body
    assert (received.partition_key, received.sequence_number) == ("policy-0", 40)
    assert received.enqueued_time == ENQUEUED


def test_a_change_feed_batch_arrives_as_documents_with_every_field():
    documents = [{"id": "quote-Q1:0000000001", "streamId": "quote-Q1", "_lsn": 7, "data": {}}]
    received = payloads.decode("cosmosDBTrigger", payloads.cosmos_documents(documents))
    assert isinstance(received, func.DocumentList)
    assert [d.to_dict() for d in received] == documents


def test_a_timer_occurrence_arrives_with_its_schedule_status():
    last, next_due = ENQUEUED, ENQUEUED + timedelta(minutes=1)
    received = payloads.decode("timerTrigger", payloads.timer(True, last, next_due, next_due))
    assert isinstance(received, func.TimerRequest)
    assert received.past_due is True
    assert received.schedule_status["Last"] == last.isoformat()
    assert received.schedule_status["Next"] == next_due.isoformat()


def test_a_binding_type_without_a_converter_is_a_clear_error():
    with pytest.raises(LookupError, match="no converter"):
        payloads.decode("noSuchTrigger", payloads.cosmos_documents([]))
