"""EventHubsCommandPublisher shared by many threads, as the Functions worker's thread pool shares
it: the unmodified SDK over a stand-in of this test's own, so its counts are exact."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from azure.eventhub import EventHubProducerClient

from adapters.eventhubs import EventHubsCommandPublisher, create_eventhubs_publisher
from bootstrap import DEFAULTS
from domain.messages import (
    CancelPolicy,
    CommandEnvelope,
    CreatePolicy,
    EventEnvelope,
    RejectQuote,
    RemoveCustomerPolicy,
    UpdateCustomerPolicyCount,
)
from domain.registry import AGGREGATES, Command, command_category, command_hubs, make_command
from tests.support.builders import ACCEPTED_PREMIUM, event
from tests.support.eventhubs_fixtures import STANDIN_HUBS, STANDIN_MAX_MESSAGE_SIZE
from tests.support.eventhubs_standin import EventHubsStandIn

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

AT = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
THREADS = 32  # the worker's default pool: min(32, cpus + 4) threads
CALLS_PER_THREAD = 3
HUBS = {f"{a.category}_commands": DEFAULTS[a.hub_setting] for a in AGGREGATES} | {
    "saga_events": DEFAULTS["SAGA_EVENTS_HUB"]
}
# Producer creation takes this long: long enough that every thread reaches the empty producer
# dict before the first creation finishes (a preempted thread does the same, only sometimes).
SLOW_CREATION = 0.05
# A send starts this long after its thread took the producer: long enough for a close() from
# another thread, which waits for that moment, to land in between.
SLOW_SEND = 0.02


@pytest.fixture
def standin() -> Iterator[EventHubsStandIn]:
    with EventHubsStandIn(STANDIN_HUBS, max_message_size=STANDIN_MAX_MESSAGE_SIZE) as own:
        yield own


class SlowToSend(EventHubProducerClient):
    """The real client, each send starting `delay` late, as if its thread were preempted just
    before sending (Python switches threads every 5 ms); `waiting` is set meanwhile."""

    delay = 0.0
    waiting = threading.Event()

    def send_batch(self, event_data_batch: Any, **kwargs: Any) -> None:
        if self.delay:
            self.waiting.set()
            time.sleep(self.delay)
        super().send_batch(event_data_batch, **kwargs)


class CountingFactory:
    """The app's producer (the real SDK client) per hub, counted; optionally slow to make or
    slow to start each send, to widen a race that otherwise shows only now and then.

    It keeps every producer it made: one the publisher lost track of would otherwise stay open
    only until the garbage collector happened to collect it, and the count would be luck."""

    def __init__(
        self, connection_string: str, *, creation_delay: float = 0.0, send_delay: float = 0.0
    ) -> None:
        self.connection_string = connection_string
        self.creation_delay, self.send_delay = creation_delay, send_delay
        self.created: Counter[str] = Counter()
        self.made: list[EventHubProducerClient] = []
        self.sending = threading.Event()  # a thread holds a producer, about to send on it
        self._lock = threading.Lock()

    def __call__(self, hub: str) -> EventHubProducerClient:
        with self._lock:
            self.created[hub] += 1
        time.sleep(self.creation_delay)
        producer = SlowToSend.from_connection_string(
            self.connection_string, eventhub_name=hub, retry_total=1, retry_backoff_factor=0.1
        )
        producer.delay, producer.waiting = self.send_delay, self.sending
        with self._lock:
            self.made.append(producer)
        return producer


def publisher_over(factory: CountingFactory) -> EventHubsCommandPublisher:
    return EventHubsCommandPublisher(
        factory,
        hubs=command_hubs(DEFAULTS.__getitem__),
        saga_events_hub=HUBS["saga_events"],
    )


def one_call(run: str, thread: int, call: int) -> tuple[list[CommandEnvelope], list[EventEnvelope]]:
    """Two or three messages for every hub, each hub's under a key no other call uses."""
    quote, policy, customer = (f"{k}-{run}-{thread}-{call}" for k in ("Q", "P", "C"))
    ids = {"quoteId": quote, "policyId": policy, "customerId": customer}
    messages: list[Command] = [
        *(RejectQuote(quoteId=quote, reason=f"reason {n}") for n in (1, 2, 3)),
        CreatePolicy(**ids, premium=ACCEPTED_PREMIUM),
        UpdateCustomerPolicyCount(**ids),
        CancelPolicy(policyId=policy, quoteId=quote, reason="cancelled"),
        RemoveCustomerPolicy(**ids, reason="cancelled"),
    ]
    commands = [
        make_command(
            message,
            command_id=f"cmd-{quote}-{n}",
            correlation_id=quote,
            causation_id=f"cause-{quote}-{n}",
            issued_at=AT,
        )
        for n, message in enumerate(messages, 1)
    ]
    return commands, [event(f"saga-{quote}", n, correlation_id=quote) for n in (1, 2)]


def expected_by_key(
    calls: list[tuple[list[CommandEnvelope], list[EventEnvelope]]],
) -> dict[tuple[str, str], list[str]]:
    """(hub, partition key) -> message ids in the order the calls gave them."""
    expected: dict[tuple[str, str], list[str]] = {}
    for commands, events in calls:
        for c in commands:
            hub = HUBS[f"{command_category(c.commandType)}_commands"]
            expected.setdefault((hub, c.aggregateId), []).append(c.commandId)
        for e in events:
            expected.setdefault((HUBS["saga_events"], e.correlationId), []).append(e.eventId)
    return expected


def received_by_key(standin: EventHubsStandIn, run: str) -> dict[tuple[str, str], list[str]]:
    """(hub, partition key) -> ids of what the stand-in accepted for this run, in stored order."""
    found: dict[tuple[str, str], list[str]] = {}
    for hub in HUBS.values():
        for stored in standin.events(hub):
            if stored.partition_key and run in stored.partition_key:
                props = stored.application_properties
                ident = props.get("commandId") or props.get("eventId")
                found.setdefault((hub, stored.partition_key), []).append(str(ident))
    return found


def run_at_once(threads: int, work: Callable[[int], None]) -> list[BaseException]:
    """`work(n)` on `threads` threads released together by a barrier; the errors they raised."""
    barrier, errors = threading.Barrier(threads), []

    def body(n: int) -> None:
        barrier.wait()
        try:
            work(n)
        except BaseException as error:  # reported by the test, not lost in the thread
            errors.append(error)

    started = [threading.Thread(target=body, args=(n,)) for n in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join(60)
    return errors


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    return condition()


def assert_each_key_landed_as_one_batch_on_its_partition(
    standin: EventHubsStandIn, keys: list[tuple[str, str]]
) -> None:
    for hub, key in keys:
        everywhere = [e for e in standin.events(hub) if e.partition_key == key]
        on_its_partition = [
            e.sequence_number
            for e in standin.events(hub, standin.partition_for(hub, key))
            if e.partition_key == key
        ]
        assert len(on_its_partition) == len(everywhere), (hub, key)
        first = on_its_partition[0]
        assert on_its_partition == list(range(first, first + len(everywhere))), (hub, key)


@pytest.mark.parametrize(
    "creation_delay", [0.0, SLOW_CREATION], ids=["sdk-speed-creation", "slow-creation"]
)
def test_threads_publishing_at_once_each_land_once_whole_and_in_order_on_their_own_key(
    standin: EventHubsStandIn, creation_delay: float
) -> None:
    run = uuid.uuid4().hex[:8]
    factory = CountingFactory(standin.connection_string, creation_delay=creation_delay)
    publisher = publisher_over(factory)
    calls = [[one_call(run, t, c) for c in range(CALLS_PER_THREAD)] for t in range(THREADS)]

    def work(thread: int) -> None:
        for commands, events in calls[thread]:
            publisher.publish(commands, events)

    try:
        errors = run_at_once(THREADS, work)

        assert errors == []
        received = received_by_key(standin, run)
        assert received == expected_by_key([call for mine in calls for call in mine])
        assert_each_key_landed_as_one_batch_on_its_partition(standin, list(received))
        sends = THREADS * CALLS_PER_THREAD  # one batch per hub per call
        assert {hub: standin.sends(hub) for hub in HUBS.values()} == dict.fromkeys(
            HUBS.values(), sends
        )
        assert factory.created == Counter(HUBS.values())  # one producer per hub
        assert standin.connections() == len(HUBS)  # and one AMQP connection each
    finally:
        publisher.close()
    assert wait_for(lambda: standin.connections() == 0), "a producer was left open"


def test_close_while_threads_publish_leaves_no_connection_open_and_loses_nothing_sent(
    standin: EventHubsStandIn,
) -> None:
    run = uuid.uuid4().hex[:8]
    factory = CountingFactory(standin.connection_string, send_delay=SLOW_SEND)
    publisher = publisher_over(factory)
    calls = [[one_call(run, t, c) for c in range(CALLS_PER_THREAD)] for t in range(THREADS)]
    done = threading.Event()

    def closer() -> None:
        closes = 0  # each makes the next publishes reconnect (about 0.5 s on the stand-in)
        while closes < 5 and not done.is_set():
            if factory.sending.wait(0.05):  # land inside some thread's send
                factory.sending.clear()
                publisher.close()  # as the worker's shutdown hook might, mid-invocation
                closes += 1

    def work(thread: int) -> None:
        for commands, events in calls[thread]:
            publisher.publish(commands, events)

    closing = threading.Thread(target=closer)
    closing.start()
    try:
        errors = run_at_once(THREADS, work)
    finally:
        done.set()
        closing.join(10)
        publisher.close()

    assert errors == []
    received = received_by_key(standin, run)
    assert received == expected_by_key([call for mine in calls for call in mine])
    assert wait_for(lambda: standin.connections() == 0), (
        f"{standin.connections()} connections left open by {sum(factory.created.values())} "
        "producers"
    )


def test_threads_opening_every_hub_at_once_share_one_managed_identity_credential() -> None:
    settings = {"EventHubs__fullyQualifiedNamespace": "example.servicebus.windows.net"}
    made_credentials: list[object] = []

    def slow_credential(**_options: object) -> object:
        time.sleep(SLOW_CREATION)  # DefaultAzureCredential builds its chain of credentials
        made_credentials.append(object())
        return made_credentials[-1]

    publisher = create_eventhubs_publisher(settings, credential_factory=slow_credential)
    hubs = list(HUBS.values())
    producers: list[EventHubProducerClient] = []

    def open_one(n: int) -> None:
        producers.append(publisher._producer(hubs[n % len(hubs)]))

    errors = run_at_once(THREADS, open_one)

    assert errors == []
    assert len(made_credentials) == 1
    assert len({id(p) for p in producers}) == len(hubs)  # no connection is opened until a send
    publisher.close()
