"""The local host tunes its interpreter once started (devhost/__main__.py): what it loaded is
frozen out of every collection, the young generation is collected less often, and a thread keeps
the GIL longer before it must hand it over."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator

import pytest

from devhost.__main__ import GC_THRESHOLDS, SWITCH_INTERVAL_SECONDS, tune_the_interpreter

pytestmark = pytest.mark.unit


@pytest.fixture
def interpreter() -> Iterator[None]:
    thresholds, interval = gc.get_threshold(), sys.getswitchinterval()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)
    sys.setswitchinterval(interval)


@pytest.mark.usefixtures("interpreter")
def test_what_the_host_loaded_is_frozen_and_young_objects_are_collected_less_often() -> None:
    loaded = len(gc.get_objects())
    tune_the_interpreter()
    assert gc.get_freeze_count() >= loaded * 0.9  # what existed then, whatever the test made
    assert gc.get_threshold() == GC_THRESHOLDS


@pytest.mark.usefixtures("interpreter")
def test_a_thread_keeps_the_gil_longer_than_pythons_default() -> None:
    assert sys.getswitchinterval() == pytest.approx(0.005)  # Python's default, as the host found it
    tune_the_interpreter()
    assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_SECONDS)
    assert SWITCH_INTERVAL_SECONDS > 0.005
