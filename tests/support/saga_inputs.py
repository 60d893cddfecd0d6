"""The quote saga's inputs for its decider tests: quote Q1 of customer C1 through each step,
each event with its own id and minute after T0."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.messages import (
    CustomerPolicyCountUpdated,
    CustomerPolicyCountUpdateFailed,
    PolicyCreated,
    PolicyCreationFailed,
    QuoteApproved,
    QuoteRejected,
)
from domain.registry import DomainEvent
from domain.saga import SagaInput, policy_id_for
from tests.support.builders import ACCEPTED_PREMIUM

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TRACE = "00-trace-01"
POLICY = policy_id_for("Q1")


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def saga_input(payload: DomainEvent, input_id: str, minutes: float = 0) -> SagaInput:
    """A domain event of quote Q1 as the orchestrator feeds it to the saga, traced."""
    return SagaInput(input_id, at(minutes), "Q1", payload, TRACE)


approved = saga_input(
    QuoteApproved(quoteId="Q1", customerId="C1", premium=ACCEPTED_PREMIUM), "e-approved"
)
policy_created = saga_input(
    PolicyCreated(policyId=POLICY, quoteId="Q1", customerId="C1", premium=ACCEPTED_PREMIUM),
    "e-policy",
    1,
)
policy_failed = saga_input(
    PolicyCreationFailed(policyId=POLICY, quoteId="Q1", customerId="C1", reason="too big"),
    "e-policy-failed",
    1,
)
counted = saga_input(
    CustomerPolicyCountUpdated(customerId="C1", policyId=POLICY, quoteId="Q1", policyCount=1),
    "e-counted",
    2,
)
count_failed = saga_input(
    CustomerPolicyCountUpdateFailed(customerId="C1", policyId=POLICY, quoteId="Q1", reason="max"),
    "e-count-failed",
    2,
)


def rejected(reason: str = "too big", minutes: float = 4) -> SagaInput:
    """The quote's rejection (what every compensation ends with), `minutes` after T0."""
    return saga_input(QuoteRejected(quoteId="Q1", reason=reason), f"e-rejected-{minutes}", minutes)
