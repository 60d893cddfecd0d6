"""The quote, policy and customer deciders, given/when/then."""

from decimal import Decimal

import pytest

from domain import customer, policy, quote
from domain.customer import CustomerRules
from domain.messages import (
    ApproveQuote,
    CancelPolicy,
    CreatePolicy,
    CreateQuote,
    CustomerPolicyCountUpdated,
    CustomerPolicyCountUpdateFailed,
    CustomerPolicyRemoved,
    PolicyCancelled,
    PolicyCreated,
    PolicyCreationFailed,
    QuoteApproved,
    QuoteCreated,
    QuoteRejected,
    RejectQuote,
    RemoveCustomerPolicy,
    UpdateCustomerPolicyCount,
)
from domain.policy import UnderwritingRules
from tests.support.builders import ACCEPTED_PREMIUM
from tests.unit.spec import DeciderSpec

pytestmark = pytest.mark.unit

quotes = DeciderSpec(quote.initial_state, quote.decide, quote.evolve)
policies = DeciderSpec(policy.initial_state, policy.decide, policy.evolve)
customers = DeciderSpec(customer.initial_state, customer.decide, customer.evolve)

created = QuoteCreated(quoteId="Q1", customerId="C1", premium=ACCEPTED_PREMIUM)
approved = QuoteApproved(quoteId="Q1", customerId="C1", premium=ACCEPTED_PREMIUM)
rejected = QuoteRejected(quoteId="Q1", reason="underwriting")


def test_creating_a_quote_records_its_customer_and_premium():
    quotes.given().when(CreateQuote(quoteId="Q1", customerId="C1", premium=ACCEPTED_PREMIUM)).then(
        created
    )


def test_creating_the_same_quote_again_changes_nothing():
    quotes.given(created).when(
        CreateQuote(quoteId="Q1", customerId="C1", premium=ACCEPTED_PREMIUM)
    ).then()


def test_creating_a_quote_id_again_with_other_terms_is_a_conflict():
    quotes.given(created).when(
        CreateQuote(quoteId="Q1", customerId="C1", premium=ACCEPTED_PREMIUM + 1)
    ).then_refused("conflict")


def test_approving_a_created_quote_carries_its_premium_and_customer():
    quotes.given(created).when(ApproveQuote(quoteId="Q1")).then(approved)


def test_approving_an_unknown_quote_is_refused_as_not_found():
    quotes.given().when(ApproveQuote(quoteId="Q1")).then_refused("not-found")


def test_approving_a_rejected_quote_is_refused_as_a_conflict():
    quotes.given(created, approved, rejected).when(ApproveQuote(quoteId="Q1")).then_refused(
        "conflict", "rejected"
    )


def test_approving_an_approved_quote_again_changes_nothing():
    quotes.given(created, approved).when(ApproveQuote(quoteId="Q1")).then()


def test_rejecting_an_approved_quote_records_the_reason():
    quotes.given(created, approved).when(RejectQuote(quoteId="Q1", reason="underwriting")).then(
        rejected
    )


def test_rejecting_a_rejected_quote_again_changes_nothing():
    quotes.given(created, approved, rejected).when(RejectQuote(quoteId="Q1", reason="x")).then()


def test_rejecting_an_unknown_quote_is_refused_as_not_found():
    quotes.given().when(RejectQuote(quoteId="Q1", reason="x")).then_refused(
        "not-found", "quote Q1 does not exist"
    )


def test_a_rejected_quote_remembers_why():
    state = quotes.given(created, approved, rejected).state
    assert (state.status, state.rejectionReason) == ("Rejected", "underwriting")


create_policy = CreatePolicy(policyId="P1", quoteId="Q1", customerId="C1", premium=ACCEPTED_PREMIUM)
policy_created = PolicyCreated(
    policyId="P1", quoteId="Q1", customerId="C1", premium=ACCEPTED_PREMIUM
)
cancel = CancelPolicy(policyId="P1", quoteId="Q1", reason="compensation")
cancelled = PolicyCancelled(policyId="P1", quoteId="Q1", reason="compensation")


def test_underwriting_creates_a_policy_within_the_limit():
    policies.given().when(create_policy).then(policy_created)


LIMIT, HALF = UnderwritingRules().premium_limit, ACCEPTED_PREMIUM / 2


def test_underwriting_refuses_a_premium_above_the_limit():
    big = create_policy.model_copy(update={"premium": LIMIT + Decimal("0.01")})
    [failed] = policies.given().when(big).events or []
    assert isinstance(failed, PolicyCreationFailed)
    assert "exceeds the underwriting limit" in failed.reason


def test_the_underwriting_limit_is_a_parameter():
    policies.given().when(create_policy, rules=UnderwritingRules(premium_limit=HALF)).then(
        PolicyCreationFailed(
            policyId="P1",
            quoteId="Q1",
            customerId="C1",
            reason=f"premium {ACCEPTED_PREMIUM:,.2f} exceeds the underwriting limit of {HALF:,.2f}",
        )
    )


def test_a_premium_exactly_at_the_limit_is_accepted():
    at_limit = create_policy.model_copy(update={"premium": LIMIT})
    [event] = policies.given().when(at_limit).events or []
    assert isinstance(event, PolicyCreated)


def test_creating_a_policy_twice_changes_nothing():
    policies.given(policy_created).when(create_policy).then()


def test_cancelling_an_active_policy_cancels_it():
    policies.given(policy_created).when(cancel).then(cancelled)


def test_cancelling_a_policy_not_yet_created_leaves_a_tombstone_creation_cannot_undo():
    policies.given().when(cancel).then(cancelled)
    policies.given(cancelled).when(create_policy).then()


def test_cancelling_a_cancelled_or_refused_policy_changes_nothing():
    refused = PolicyCreationFailed(policyId="P1", quoteId="Q1", customerId="C1", reason="r")
    policies.given(policy_created, cancelled).when(cancel).then()
    policies.given(refused).when(cancel).then()


def test_a_policy_remembers_its_customer_and_premium_or_its_refusal_and_its_cancellation():
    refused = PolicyCreationFailed(policyId="P1", quoteId="Q1", customerId="C1", reason="r")
    assert policies.given(policy_created).state == policy.Policy(
        policyId="P1", quoteId="Q1", status="Active", customerId="C1", premium=ACCEPTED_PREMIUM
    )
    assert policies.given(refused).state == policy.Policy(
        policyId="P1", quoteId="Q1", status="Refused", customerId="C1"
    )
    assert policies.given(policy_created, cancelled).state == policy.Policy(
        policyId="P1", quoteId="Q1", status="Cancelled", customerId="C1", premium=ACCEPTED_PREMIUM
    )


def update(policy_id: str) -> UpdateCustomerPolicyCount:
    return UpdateCustomerPolicyCount(customerId="C1", policyId=policy_id, quoteId=f"Q-{policy_id}")


def updated(policy_id: str, count: int) -> CustomerPolicyCountUpdated:
    return CustomerPolicyCountUpdated(
        customerId="C1", policyId=policy_id, quoteId=f"Q-{policy_id}", policyCount=count
    )


def removed(policy_id: str, count: int) -> CustomerPolicyRemoved:
    return CustomerPolicyRemoved(
        customerId="C1", policyId=policy_id, quoteId=f"Q-{policy_id}", policyCount=count
    )


def remove(policy_id: str) -> RemoveCustomerPolicy:
    return RemoveCustomerPolicy(
        customerId="C1", policyId=policy_id, quoteId=f"Q-{policy_id}", reason="compensation"
    )


def test_a_new_customer_counts_its_first_policy():
    customers.given().when(update("P1")).then(updated("P1", 1))


def test_counting_the_same_policy_twice_changes_nothing():
    customers.given(updated("P1", 1)).when(update("P1")).then()


def test_a_customer_at_the_policy_limit_is_refused_another():
    held = [updated(f"P{i}", i) for i in range(1, 6)]
    [event] = customers.given(*held).when(update("P6")).events or []
    assert isinstance(event, CustomerPolicyCountUpdateFailed)
    assert "limit 5" in event.reason


def test_the_policy_limit_is_a_parameter():
    [event] = (
        customers.given(updated("P1", 1))
        .when(update("P2"), rules=CustomerRules(max_active_policies=1))
        .events
        or []
    )
    assert isinstance(event, CustomerPolicyCountUpdateFailed)


def test_a_removed_policy_no_longer_counts():
    held = [updated(f"P{i}", i) for i in range(1, 6)]
    customers.given(*held, removed("P5", 4)).when(update("P6")).then(updated("P6", 5))


def test_removing_a_policy_lowers_the_count():
    customers.given(updated("P1", 1), updated("P2", 2)).when(remove("P1")).then(removed("P1", 1))


def test_removing_a_policy_twice_changes_nothing():
    customers.given(updated("P1", 1), removed("P1", 0)).when(remove("P1")).then()


def test_an_update_delayed_behind_its_removal_is_refused():
    [event] = customers.given(removed("P1", 0)).when(update("P1")).events or []
    assert isinstance(event, CustomerPolicyCountUpdateFailed)
    assert "removed" in event.reason


def test_removing_a_policy_never_counted_leaves_a_tombstone():
    customers.given().when(remove("P1")).then(removed("P1", 0))
