"""The customer aggregate: counts active policies by policy id, up to a limit.

Counting by id makes a repeated update a no-op; a removed id is remembered so that an update
delayed behind its removal (a compensated saga) cannot count the policy again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import assert_never

from pydantic import BaseModel, ConfigDict

from domain.messages import (
    CustomerCommand,
    CustomerEvent,
    CustomerPolicyCountUpdated,
    CustomerPolicyCountUpdateFailed,
    CustomerPolicyRemoved,
    RemoveCustomerPolicy,
    UpdateCustomerPolicyCount,
)


@dataclass(frozen=True)
class CustomerRules:
    max_active_policies: int = 5


class Customer(BaseModel):
    model_config = ConfigDict(frozen=True)

    customerId: str
    activePolicies: tuple[str, ...] = ()
    removedPolicies: frozenset[str] = frozenset()

    @property
    def policyCount(self) -> int:
        return len(self.activePolicies)


initial_state: Customer | None = None


def decide(
    state: Customer | None, command: CustomerCommand, rules: CustomerRules = CustomerRules()
) -> list[CustomerEvent]:
    current = state or Customer(customerId=command.customerId)
    ids = {
        "customerId": command.customerId,
        "policyId": command.policyId,
        "quoteId": command.quoteId,
    }
    match command:
        case UpdateCustomerPolicyCount():
            if command.policyId in current.activePolicies:
                return []
            if command.policyId in current.removedPolicies:
                return [
                    CustomerPolicyCountUpdateFailed(
                        **ids, reason=f"policy {command.policyId} was removed from this customer"
                    )
                ]
            if current.policyCount >= rules.max_active_policies:
                return [
                    CustomerPolicyCountUpdateFailed(
                        **ids,
                        reason=f"customer already holds {current.policyCount} active "
                        f"policies (limit {rules.max_active_policies})",
                    )
                ]
            return [CustomerPolicyCountUpdated(**ids, policyCount=current.policyCount + 1)]
        case RemoveCustomerPolicy():
            if command.policyId in current.removedPolicies:
                return []
            held = command.policyId in current.activePolicies
            return [
                CustomerPolicyRemoved(
                    **ids, policyCount=current.policyCount - 1 if held else current.policyCount
                )
            ]
        case _:
            assert_never(command)


def evolve(state: Customer | None, event: CustomerEvent) -> Customer | None:
    current = state or Customer(customerId=event.customerId)
    match event:
        case CustomerPolicyCountUpdated():
            return current.model_copy(
                update={"activePolicies": (*current.activePolicies, event.policyId)}
            )
        case CustomerPolicyCountUpdateFailed():
            return current
        case CustomerPolicyRemoved():
            return current.model_copy(
                update={
                    "activePolicies": tuple(
                        p for p in current.activePolicies if p != event.policyId
                    ),
                    "removedPolicies": current.removedPolicies | {event.policyId},
                }
            )
        case _:
            assert_never(event)
