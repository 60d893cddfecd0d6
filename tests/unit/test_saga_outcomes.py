"""All three saga outcomes over the real application services, with every event and command
delivered twice and partitions interleaved at random: the outcome must not change."""

import random

import pytest

from domain.registry import CUSTOMER
from tests.support.builders import ACCEPTED_PREMIUM, OVER_LIMIT_PREMIUM, accepted_premium
from tests.support.world import World

pytestmark = pytest.mark.unit

SEEDS = range(12)


def start_sagas(world: World) -> dict[str, str]:
    """Quotes and the outcome each must reach; C-full asks for one policy over its limit."""
    expected = {}
    world.quotes.create("C-happy", ACCEPTED_PREMIUM, "Q-happy")
    expected["Q-happy"] = "Completed"
    world.quotes.create("C-big", OVER_LIMIT_PREMIUM, "Q-big")
    expected["Q-big"] = "Compensated"
    for i in range(6):
        world.quotes.create("C-full", accepted_premium(i), f"Q-full-{i}")
    for quote_id in ["Q-happy", "Q-big", *(f"Q-full-{i}" for i in range(6))]:
        world.quotes.approve(quote_id)
    return expected


@pytest.mark.parametrize("seed", SEEDS)
def test_every_saga_ends_as_expected_whatever_the_delivery_order(seed):
    world, rng = World(), random.Random(seed)
    expected = start_sagas(world)
    world.pump(rng, redeliver=1.0)
    world.check_invariants()
    for quote_id, status in expected.items():
        assert world.saga_status(quote_id) == status, quote_id
    full = {f"Q-full-{i}": world.saga_status(f"Q-full-{i}") for i in range(6)}
    assert sorted(full.values()) == ["Compensated"] + ["Completed"] * 5, full
    customer = world.commands.state_of(CUSTOMER, "C-full")
    assert customer.policyCount == 5


@pytest.mark.parametrize("seed", SEEDS)
def test_a_compensated_customer_failure_cancels_the_policy_it_created(seed):
    world, rng = World(), random.Random(seed)
    start_sagas(world)
    world.pump(rng)
    [loser] = [f"Q-full-{i}" for i in range(6) if world.saga_status(f"Q-full-{i}") == "Compensated"]
    view = world.views.get(loser).view.model_dump(mode="json")
    types = [entry["eventType"] for entry in view["timeline"]]
    for expected in [
        "QuoteApproved",
        "PolicyCreated",
        "CustomerPolicyCountUpdateFailed",
        "PolicyCancelled",
        "QuoteRejected",
        "SagaCompensated",
    ]:
        assert expected in types, (expected, types)
    assert view["quote"]["status"] == "Rejected"


def test_the_outcome_is_the_same_with_and_without_redelivery():
    quiet, noisy = World(), World()
    start_sagas(quiet)
    start_sagas(noisy)
    quiet.pump(random.Random(1), redeliver=0.0)
    noisy.pump(random.Random(1), redeliver=1.0)
    assert noisy.deliveries > quiet.deliveries
    for quote_id in ["Q-happy", "Q-big"]:
        assert quiet.saga_status(quote_id) == noisy.saga_status(quote_id)
