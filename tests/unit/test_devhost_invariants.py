"""The invariant checks the world and the e2e tests share can fail."""

import pytest

from tests.support.invariants import check_invariants
from tests.support.world import World

pytestmark = pytest.mark.unit


def test_the_invariants_catch_a_command_applied_twice_and_a_gap():
    world = World()
    world.quotes.create("C1", 10.0, "Q1")
    world.check_invariants()
    duplicate = world.store.read_stream("quote-Q1")[0]
    world.store._log.append(duplicate)
    with pytest.raises(AssertionError, match="applied twice"):
        check_invariants(world.store)
    world.store._log[-1] = duplicate.model_copy(update={"sequenceNumber": 3, "eventId": "other"})
    with pytest.raises(AssertionError, match="gaps"):
        check_invariants(world.store)
