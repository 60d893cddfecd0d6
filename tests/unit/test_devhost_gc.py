"""The local host spares Python's garbage collector once started (devhost/__main__.py): what
it loaded is frozen out of every collection, and the young generation is collected less often."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from devhost.__main__ import GC_THRESHOLDS, spare_the_collector

pytestmark = pytest.mark.unit


@pytest.fixture
def collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("collector")
def test_what_the_host_loaded_is_frozen_and_young_objects_are_collected_less_often() -> None:
    loaded = len(gc.get_objects())
    spare_the_collector()
    assert gc.get_freeze_count() >= loaded * 0.9  # what existed then, whatever the test made
    assert gc.get_threshold() == GC_THRESHOLDS
