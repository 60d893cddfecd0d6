"""The policy aggregate: underwriting decides creation; a cancellation may arrive first.

A `CancelPolicy` for a policy not yet created leaves a tombstone, so a `CreatePolicy` delayed
behind it (a timed-out saga step) can never bring the policy to life afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import assert_never

from pydantic import BaseModel, ConfigDict

from domain.messages import (
    CancelPolicy,
    CreatePolicy,
    PolicyCancelled,
    PolicyCommand,
    PolicyCreated,
    PolicyCreationFailed,
    PolicyEvent,
    Premium,
)


@dataclass(frozen=True)
class UnderwritingRules:
    """What underwriting accepts; a setting of the deployment, not a constant of the code."""

    premium_limit: Decimal = Decimal(1_000_000)


def premium_limit(text: str, name: str) -> Decimal:
    """A limit as a setting writes it ("1000000", "2500.50"); a ValueError naming `name` for
    anything that is not a positive finite decimal number."""
    try:
        limit: Decimal | None = Decimal(text.strip())
    except InvalidOperation:
        limit = None
    if limit is None or not limit.is_finite() or limit <= 0:
        raise ValueError(f"{name} must be a positive decimal number such as 1000000, not {text!r}")
    return limit


class PolicyStatus(StrEnum):
    ACTIVE = "Active"
    REFUSED = "Refused"
    CANCELLED = "Cancelled"


class Policy(BaseModel):
    model_config = ConfigDict(frozen=True)

    policyId: str
    quoteId: str
    status: PolicyStatus
    customerId: str | None = None
    premium: Premium | None = None


initial_state: Policy | None = None


def decide(
    state: Policy | None, command: PolicyCommand, rules: UnderwritingRules = UnderwritingRules()
) -> list[PolicyEvent]:
    match command:
        case CreatePolicy():
            if state is not None:
                return []  # created, refused or cancelled already: a repeat changes nothing
            if command.premium > rules.premium_limit:
                return [
                    PolicyCreationFailed(
                        policyId=command.policyId,
                        quoteId=command.quoteId,
                        customerId=command.customerId,
                        reason=f"premium {command.premium:,.2f} exceeds the underwriting limit "
                        f"of {rules.premium_limit:,.2f}",
                    )
                ]
            return [PolicyCreated(**command.model_dump())]
        case CancelPolicy():
            if state is not None and state.status is not PolicyStatus.ACTIVE:
                return []
            return [PolicyCancelled(**command.model_dump())]
        case _:
            assert_never(command)


def evolve(state: Policy | None, event: PolicyEvent) -> Policy | None:
    match event:
        case PolicyCreated():
            return Policy(
                policyId=event.policyId,
                quoteId=event.quoteId,
                status=PolicyStatus.ACTIVE,
                customerId=event.customerId,
                premium=event.premium,
            )
        case PolicyCreationFailed():
            return Policy(
                policyId=event.policyId,
                quoteId=event.quoteId,
                status=PolicyStatus.REFUSED,
                customerId=event.customerId,
            )
        case PolicyCancelled():
            base = state or Policy(
                policyId=event.policyId, quoteId=event.quoteId, status=PolicyStatus.CANCELLED
            )
            return base.model_copy(update={"status": PolicyStatus.CANCELLED})
        case _:
            assert_never(event)
