"""The counting transport (devhost/cosmos_local.py) counts a request in the block that caused
it, also one the SDK sends later from its own background thread."""

from __future__ import annotations

import threading
import time

import pytest

from devhost.cosmos_local import SDK_REFRESH_THREAD, CountingTransport

pytestmark = pytest.mark.unit


def test_the_sdks_background_refresh_is_counted_in_the_block_that_started_it() -> None:
    transport = CountingTransport()

    def health_check() -> None:  # as the SDK's endpoint check after a client's first request
        time.sleep(0.3)
        with transport._lock:
            transport.sent.append("other GET /")

    with transport.counting() as first:
        threading.Thread(target=health_check, name=SDK_REFRESH_THREAD).start()
    with transport.counting() as then:
        pass
    assert (first, then) == (["other GET /"], [])
