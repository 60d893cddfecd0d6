"""The Event Hubs stand-in held to what the real SDK expects: sequence numbers, management
properties, start positions, and the frame padding the SDK's positional decoder needs."""

from __future__ import annotations

import time
import uuid

import pytest
from azure.eventhub import EventData, EventHubProducerClient

from tests.support.eventhubs_fixtures import receive_events
from tests.support.eventhubs_standin import EventHubsStandIn, _pad_frame

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

HUB, PARTITION = "standin-probe", "1"


def first_sequence_number(standin: EventHubsStandIn, seeded: list[str]) -> int:
    """Where the seeded events begin, whatever other tests sent to the partition before."""
    return next(
        e.sequence_number for e in standin.events(HUB, PARTITION) if e.body.decode() == seeded[0]
    )


@pytest.fixture(scope="module")
def seeded(eventhubs_standin: EventHubsStandIn, eventhubs_connection_string: str) -> list[str]:
    """Five events sent to one partition of the probe hub, in one batch; returns their bodies."""
    tag = uuid.uuid4().hex[:8]
    texts = [f"{tag}-{n}" for n in range(5)]
    with EventHubProducerClient.from_connection_string(
        eventhubs_connection_string, eventhub_name=HUB, retry_total=0
    ) as producer:
        batch = producer.create_batch(partition_id=PARTITION)
        for text in texts:
            batch.add(EventData(text))
        producer.send_batch(batch)
    return texts


def test_sequence_numbers_start_at_zero_and_count_up_within_a_partition(
    seeded: list[str], eventhubs_standin: EventHubsStandIn
) -> None:
    stored = eventhubs_standin.events(HUB, PARTITION)

    assert [e.sequence_number for e in stored] == list(range(len(stored)))
    assert [e.body.decode() for e in stored[-5:]] == seeded


def test_the_management_node_reports_hub_and_partition_properties(
    seeded: list[str], eventhubs_standin: EventHubsStandIn, eventhubs_connection_string: str
) -> None:
    with EventHubProducerClient.from_connection_string(
        eventhubs_connection_string, eventhub_name=HUB, retry_total=0
    ) as producer:
        hub = producer.get_eventhub_properties()
        partition = producer.get_partition_properties(PARTITION)
        empty = producer.get_partition_properties("0")

    last = eventhubs_standin.events(HUB, PARTITION)[-1]
    assert hub["eventhub_name"] == HUB
    assert hub["partition_ids"] == ["0", "1"]
    assert partition["last_enqueued_sequence_number"] == last.sequence_number
    assert partition["last_enqueued_offset"] == last.offset
    assert partition["is_empty"] is False
    assert (empty["last_enqueued_sequence_number"], empty["is_empty"]) == (-1, True)


def test_a_consumer_from_the_start_receives_every_event_in_order_with_service_annotations(
    seeded: list[str], eventhubs_standin: EventHubsStandIn, eventhubs_connection_string: str
) -> None:
    base = first_sequence_number(eventhubs_standin, seeded)

    received = receive_events(
        eventhubs_connection_string,
        HUB,
        PARTITION,
        5,
        starting_position="-1",
        where=lambda e: e.body_as_str() in seeded,
    )

    assert [e.body_as_str() for e in received] == seeded
    assert [e.sequence_number for e in received] == list(range(base, base + 5))
    assert [e.offset for e in received] == [str(n) for n in range(base, base + 5)]
    assert all(e.enqueued_time is not None for e in received)


def test_a_consumer_after_sequence_number_n_starts_after_it_or_at_it_when_inclusive(
    seeded: list[str], eventhubs_standin: EventHubsStandIn, eventhubs_connection_string: str
) -> None:
    n = first_sequence_number(eventhubs_standin, seeded) + 2

    after = receive_events(eventhubs_connection_string, HUB, PARTITION, 2, starting_position=n)
    inclusive = receive_events(
        eventhubs_connection_string, HUB, PARTITION, 3, starting_position=n, inclusive=True
    )

    assert [e.body_as_str() for e in after] == seeded[3:]
    assert [e.body_as_str() for e in inclusive] == seeded[2:]


def test_a_consumer_from_latest_receives_only_events_sent_after_it_attached(
    seeded: list[str], eventhubs_standin: EventHubsStandIn, eventhubs_connection_string: str
) -> None:
    fresh = f"after-{uuid.uuid4().hex[:8]}"

    def send_once_attached() -> None:
        deadline = time.monotonic() + 10
        while eventhubs_standin.receivers(HUB, PARTITION) == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        with EventHubProducerClient.from_connection_string(
            eventhubs_connection_string, eventhub_name=HUB, retry_total=0
        ) as producer:
            producer.send_batch([EventData(fresh)], partition_id=PARTITION)

    received = receive_events(
        eventhubs_connection_string,
        HUB,
        PARTITION,
        1,
        starting_position="@latest",
        started=send_once_attached,
    )

    assert [e.body_as_str() for e in received] == [fresh]


def test_the_same_partition_key_always_lands_on_the_same_partition(
    eventhubs_standin: EventHubsStandIn, eventhubs_connection_string: str
) -> None:
    key = f"key-{uuid.uuid4().hex[:8]}"
    with EventHubProducerClient.from_connection_string(
        eventhubs_connection_string, eventhub_name=HUB, retry_total=0
    ) as producer:
        for n in range(3):
            producer.send_batch([EventData(f"{key}-{n}")], partition_key=key)

    partition = eventhubs_standin.partition_for(HUB, key)
    mine = [e for e in eventhubs_standin.events(HUB, partition) if e.partition_key == key]
    assert [e.body.decode() for e in mine] == [f"{key}-{n}" for n in range(3)]


def test_frames_with_omitted_trailing_fields_are_padded_to_every_field_of_the_performative() -> (
    None
):
    # `close` with no error, as proton writes it: a described list0.
    close = b"\x00\x00\x00\x0c\x02\x00\x00\x00" + b"\x00\x53\x18\x45"
    # `detach` with handle 0 and closed=true, the error field omitted.
    detach = b"\x00\x00\x00\x0f\x02\x00\x00\x00" + b"\x00\x53\x16\xc0\x03\x02\x43\x41"

    padded_close, padded_detach = _pad_frame(close), _pad_frame(detach)

    assert padded_close[8:] == b"\x00\x53\x18\xd0\x00\x00\x00\x05\x00\x00\x00\x01\x40"
    assert padded_detach[8:] == (b"\x00\x53\x16\xd0\x00\x00\x00\x07\x00\x00\x00\x03\x43\x41\x40")
    assert int.from_bytes(padded_detach[:4], "big") == len(padded_detach)
