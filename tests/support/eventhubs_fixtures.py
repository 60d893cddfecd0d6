"""Pytest plugin: an Event Hubs stand-in on a free loopback port for the whole session.

List it in a conftest: `pytest_plugins = ["tests.support.eventhubs_fixtures"]`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from azure.eventhub import EventData, EventHubConsumerClient

from bootstrap import DEFAULTS
from tests.support.eventhubs_standin import EventHubsStandIn

# The app's hubs (bootstrap DEFAULTS) plus one spare for stand-in tests; small partition counts
# keep the same-partition assertions meaningful. 64 KiB messages make batch splits cheap to test.
# Every hub the app publishes to (bootstrap.DEFAULTS, from the registry), plus a probe.
STANDIN_HUBS = {
    **{hub: 4 for name, hub in DEFAULTS.items() if name.endswith("_HUB")},
    "standin-probe": 2,
}
STANDIN_MAX_MESSAGE_SIZE = 64 * 1024


@pytest.fixture(scope="session")
def eventhubs_standin() -> Iterator[EventHubsStandIn]:
    """The stand-in, started once; tests tell their events apart by unique keys or counts."""
    standin = EventHubsStandIn(STANDIN_HUBS, max_message_size=STANDIN_MAX_MESSAGE_SIZE).start()
    try:
        yield standin
    finally:
        standin.stop()


@pytest.fixture(scope="session")
def eventhubs_connection_string(eventhubs_standin: EventHubsStandIn) -> str:
    """A namespace connection string (emulator form, no EntityPath) for the stand-in."""
    return eventhubs_standin.connection_string


def receive_events(
    connection_string: str,
    hub: str,
    partition: str,
    count: int,
    *,
    starting_position: str | int = "-1",
    inclusive: bool = False,
    timeout: float = 10.0,
    started: Callable[[], None] | None = None,
    where: Callable[[EventData], bool] = lambda _event: True,
) -> list[EventData]:
    """Up to `count` events (those `where` keeps) read from one partition with the real consumer.

    `started` runs once the consumer has been started (for "from latest" tests); stops after
    `count` events or `timeout` seconds, whichever comes first.
    """
    received: list[EventData] = []
    done = threading.Event()

    def on_event(_context: Any, event: EventData | None) -> None:
        if event is not None and where(event):
            received.append(event)
        if len(received) >= count:
            done.set()

    consumer = EventHubConsumerClient.from_connection_string(
        connection_string, "$Default", eventhub_name=hub, retry_total=0
    )
    worker = threading.Thread(
        target=consumer.receive,
        kwargs={
            "on_event": on_event,
            "partition_id": partition,
            "starting_position": starting_position,
            "starting_position_inclusive": inclusive,
            "max_wait_time": 0.2,
        },
        daemon=True,
    )
    worker.start()
    try:
        if started is not None:
            started()
        done.wait(timeout)
    finally:
        consumer.close()
        worker.join(timeout)
    return received
