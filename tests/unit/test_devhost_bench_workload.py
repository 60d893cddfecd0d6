"""The bench's mixed workload and its verifier: the workload has the shape the issue asks for,
the verifier accepts any order of one customer's sagas at the limit and reports every way a
run can be wrong."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest

from bootstrap import Settings
from devhost.bench_workload import (
    Limits,
    Outcome,
    Saga,
    limit_reason,
    underwriting_reason,
    verify,
    workload,
)

pytestmark = pytest.mark.unit

LIMITS = Limits.deployed(Settings({}))


def correct_outcomes(sagas: list[Saga], reverse: bool = False) -> dict[str, Outcome]:
    """Outcomes a correct run could give: per customer, eligible sagas complete up to the
    limit in list order (or reversed), the rest compensated for the right reason."""
    done: Counter[str] = Counter()
    outcomes = {}
    for saga in reversed(sagas) if reverse else sagas:
        refusal = underwriting_reason(saga.premium, LIMITS)
        if refusal is not None:
            outcomes[saga.quote_id] = Outcome("Compensated", refusal)
        elif done[saga.customer_id] < LIMITS.policies:
            done[saga.customer_id] += 1
            outcomes[saga.quote_id] = Outcome("Completed")
        else:
            outcomes[saga.quote_id] = Outcome("Compensated", limit_reason(LIMITS))
    return outcomes


def counts_of(outcomes: dict[str, Outcome], sagas: list[Saga]) -> dict[str, int]:
    return dict(Counter(s.customer_id for s in sagas if outcomes[s.quote_id].status == "Completed"))


def test_mixed_workload_gives_a_third_of_customers_seven_quotes_and_every_tenth_over_the_limit():
    sagas = workload("mixed", 2000, "r", 14, LIMITS)
    sizes = Counter(Counter(s.customer_id for s in sagas).values())
    assert len(sagas) == 2000
    assert len({s.quote_id for s in sagas}) == 2000
    assert sizes[7] / sum(sizes.values()) == pytest.approx(1 / 3, abs=0.01)
    assert sum(n for size, n in sizes.items() if size not in (3, 7)) <= 1  # the last, cut short
    over = [s for s in sagas if underwriting_reason(s.premium, LIMITS) is not None]
    assert len(over) == 200
    assert {s.premium for s in over} == {Decimal("1500000.00")}


def test_mixed_workload_is_shuffled_by_its_seed_and_only_by_it():
    def owners(seed: int) -> list[str]:
        return [s.customer_id for s in workload("mixed", 100, "r", seed, LIMITS)]

    assert owners(1) == owners(1) != owners(2)
    assert owners(1) != sorted(owners(1), key=lambda c: int(c.split("-")[1]))


def test_limits_follow_the_deployment_settings():
    limits = Limits.deployed(
        Settings({"MAX_ACTIVE_POLICIES": "2", "UNDERWRITING_PREMIUM_LIMIT": "1000"})
    )
    assert limits == Limits(Decimal(1000), 2)
    assert limits.over_premium() == Decimal("1500.00")


@pytest.mark.parametrize("reverse", [False, True])
def test_a_correct_run_verifies_whatever_order_reached_the_customer_first(reverse):
    sagas = workload("mixed", 300, "r", 14, LIMITS)
    outcomes = correct_outcomes(sagas, reverse)
    problems, tally = verify(sagas, outcomes, counts_of(outcomes, sagas), LIMITS)
    assert problems == []
    assert tally["Compensated: policy limit"] > 0
    assert tally["Compensated: underwriting"] == 30


def test_one_saga_too_many_completed_is_reported_for_the_saga_and_its_customer():
    sagas = workload("mixed", 300, "r", 14, LIMITS)
    outcomes = correct_outcomes(sagas)
    at_limit = next(q for q, o in outcomes.items() if o.reason == limit_reason(LIMITS))
    outcomes[at_limit] = Outcome("Completed")
    problems, _ = verify(sagas, outcomes, counts_of(outcomes, sagas), LIMITS)
    [owner] = [s.customer_id for s in sagas if s.quote_id == at_limit]
    assert len(problems) == 1
    assert f"customer {owner}: 6 sagas Completed, expected 5" in problems[0]


def test_a_wrong_reason_a_missing_saga_and_a_wrong_count_are_each_reported():
    sagas = workload("mixed", 300, "r", 14, LIMITS)
    outcomes = correct_outcomes(sagas)
    counts = counts_of(outcomes, sagas)
    refused = next(q for q, o in outcomes.items() if o.reason and "underwriting" in o.reason)
    outcomes[refused] = Outcome("Compensated", limit_reason(LIMITS))
    missing = next(q for q, o in outcomes.items() if o.status == "Completed")
    del outcomes[missing]
    miscounted = next(iter(counts))
    counts[miscounted] += 1
    problems, _ = verify(sagas, outcomes, counts, LIMITS)
    assert any(p.startswith(f"saga {refused} ") and "underwriting" in p for p in problems)
    assert any(p.startswith(f"saga {missing} ") and "None" in p for p in problems)
    assert any(p.startswith(f"customer {miscounted}: policy count") for p in problems)
