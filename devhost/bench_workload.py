"""The bench's workloads and what each must end in. `mixed`: customers of 3 quotes, every third
of 7, shuffled with a seed, every 10th premium over the underwriting limit; `easy`: every saga
its own new customer, every premium accepted. The limits are the deployment's (bootstrap's
settings), so the expectations follow them.

Concurrent sagas of one customer reach the customer aggregate in an order nobody controls, so
which of them hit the policy limit is not known in advance; what is checked is what no order
changes: per customer, min(eligible, limit) sagas complete, every over-limit quote is refused
by underwriting, every other saga is compensated at the policy limit, and the customer's count
equals its completed sagas.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from bootstrap import Settings, rules_from
from domain import customer, policy
from domain.messages import CreatePolicy, UpdateCustomerPolicyCount
from domain.registry import CUSTOMER, POLICY

SMALL, LARGE = 3, 7  # quotes per customer; every third customer is large


@dataclass(frozen=True)
class Saga:
    quote_id: str
    customer_id: str
    premium: Decimal


@dataclass(frozen=True)
class Limits:
    premium: Decimal  # underwriting refuses a premium above it
    policies: int  # active policies a customer may hold

    @classmethod
    def deployed(cls, settings: Settings | None = None) -> Limits:
        """The limits the hosts run with: the environment's settings over bootstrap's defaults
        (the hosts inherit this process's environment)."""
        rules = rules_from(settings or Settings.from_environment())
        return cls(rules.of(POLICY).premium_limit, rules.of(CUSTOMER).max_active_policies)

    def over_premium(self) -> Decimal:
        """The workload's refused premium: 1.5 times the limit (1,500,000.00 by default)."""
        return (self.premium * 3 / 2).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class Outcome:
    status: str | None  # the saga's status over HTTP; None: no such quote or saga
    reason: str | None = None


def accepted(i: int) -> Decimal:
    return Decimal(f"{100 + i % 900}.{i % 100:02d}")


def workload(name: str, n: int, run: str, seed: int, limits: Limits) -> list[Saga]:
    if name == "easy":
        return [Saga(f"B{run}-{i}", f"C{run}-{i}", accepted(i)) for i in range(n)]
    owners: list[str] = []
    for c in range(n):  # n customers are always enough
        if len(owners) >= n:
            break
        owners += [f"C{run}-{c}"] * (LARGE if c % 3 == 2 else SMALL)
    owners = owners[:n]
    random.Random(seed).shuffle(owners)
    over = limits.over_premium()
    return [
        Saga(f"B{run}-{i}", owner, over if i % 10 == 9 else accepted(i))
        for i, owner in enumerate(owners)
    ]


def underwriting_reason(premium: Decimal, limits: Limits) -> str | None:
    """The domain's refusal of `premium`, or None if underwriting accepts it."""
    command = CreatePolicy(policyId="P", quoteId="Q", customerId="C", premium=premium)
    [event] = policy.decide(None, command, policy.UnderwritingRules(limits.premium))
    return getattr(event, "reason", None)


def limit_reason(limits: Limits) -> str:
    """The domain's refusal of one more policy for a customer at the limit."""
    full = customer.Customer(
        customerId="C", activePolicies=tuple(f"P{k}" for k in range(limits.policies))
    )
    command = UpdateCustomerPolicyCount(customerId="C", policyId="P", quoteId="Q")
    [event] = customer.decide(full, command, customer.CustomerRules(limits.policies))
    return getattr(event, "reason", "")


def verify(
    sagas: list[Saga],
    outcomes: Mapping[str, Outcome],
    counts: Mapping[str, int],
    limits: Limits,
) -> tuple[list[str], Counter[str]]:
    """(problems, outcome tally) of a run: every saga against its expectation, every
    customer's policy count (`counts`; a customer missing counts 0) against its completions."""
    problems: list[str] = []
    tally: Counter[str] = Counter()
    at_limit = limit_reason(limits)
    by_customer: dict[str, list[Saga]] = {}
    for saga in sagas:
        by_customer.setdefault(saga.customer_id, []).append(saga)
    for customer_id, theirs in by_customer.items():
        completed, eligible = 0, 0
        for saga in theirs:
            got = outcomes.get(saga.quote_id, Outcome(None))
            refusal = underwriting_reason(saga.premium, limits)
            if refusal is not None:
                kind = _expect(got, "Compensated", refusal, "underwriting", saga, problems)
            elif got.status == "Completed":
                kind = "Completed"
            else:
                kind = _expect(got, "Compensated", at_limit, "policy limit", saga, problems)
            eligible += refusal is None
            completed += got.status == "Completed"
            tally[kind] += 1
        expected = min(eligible, limits.policies)
        if completed != expected:
            problems.append(
                f"customer {customer_id}: {completed} sagas Completed, expected {expected}"
                f" (min of {eligible} eligible quotes and the limit {limits.policies})"
            )
        if counts.get(customer_id, 0) != completed:
            problems.append(
                f"customer {customer_id}: policy count {counts.get(customer_id, 0)} over HTTP,"
                f" but {completed} sagas Completed"
            )
    return problems, tally


def _expect(
    got: Outcome, status: str, reason: str, kind: str, saga: Saga, problems: list[str]
) -> str:
    if got.status != status or got.reason != reason:
        problems.append(
            f"saga {saga.quote_id} (customer {saga.customer_id}, premium {saga.premium}):"
            f" {got.status} ({got.reason!r}), expected {status} ({kind}: {reason!r})"
        )
        return f"wrong ({kind} expected)"
    return f"{status}: {kind}"
