"""Pytest plugin: an Event Hubs stand-in on a free loopback port for the whole session.

List it in a conftest: `pytest_plugins = ["tests.support.eventhubs_fixtures"]`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.eventhubs_standin import EventHubsStandIn

# The app's hubs (bootstrap DEFAULTS) plus one spare for stand-in tests; small partition counts
# keep the same-partition assertions meaningful. 64 KiB messages make batch splits cheap to test.
STANDIN_HUBS = {
    "quote-commands": 4,
    "policy-commands": 4,
    "customer-commands": 4,
    "saga-events": 4,
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
