"""Builders for tests: valid stored envelopes with predictable ids, and premiums every rule
accepts or underwriting refuses (derived from the rules, so a new premium rule breaks only the
tests about premiums)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bootstrap import Settings, rules_from
from domain import policy
from domain.messages import CreatePolicy, EventEnvelope, PolicyCreationFailed, document_id
from domain.registry import POLICY

AT = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)

# The deployed default (bootstrap's UNDERWRITING_PREMIUM_LIMIT); the domain's default agrees
# (tests/unit/test_money.py), so unit tests over the domain's rules see the same limit.
UNDERWRITING_LIMIT = rules_from(Settings({})).of(POLICY).premium_limit
ACCEPTED_PREMIUM = Decimal("100.00")  # a premium every rule accepts
OVER_LIMIT_PREMIUM = (UNDERWRITING_LIMIT * Decimal("2.5")).quantize(Decimal("0.01"))


def accepted_premium(n: int = 0) -> Decimal:
    """The `n`th of distinct premiums every rule accepts (for quotes that must differ)."""
    return ACCEPTED_PREMIUM + n


def underwriting_refusal(premium: Decimal = OVER_LIMIT_PREMIUM) -> str:
    """The reason underwriting gives for `premium` (as the domain words it)."""
    command = CreatePolicy(policyId="P", quoteId="Q", customerId="C", premium=premium)
    [refused] = policy.decide(None, command, policy.UnderwritingRules(UNDERWRITING_LIMIT))
    assert isinstance(refused, PolicyCreationFailed), f"{premium} is within the limit"
    return refused.reason


def event(
    stream_id: str,
    sequence: int,
    *,
    tag: str = "",
    event_type: str = "QuoteApproved",
    data: dict[str, Any] | None = None,
    at: datetime = AT,
    correlation_id: str = "corr-1",
    traceparent: str | None = None,
) -> EventEnvelope:
    """Event number `sequence` of a stream; `tag` tells apart rival writers of one sequence."""
    suffix = f"-{tag}" if tag else ""
    return EventEnvelope(
        id=document_id(stream_id, sequence),
        streamId=stream_id,
        sequenceNumber=sequence,
        eventId=f"evt-{stream_id}-{sequence}{suffix}",
        eventType=event_type,
        schemaVersion=1,
        timestamp=at,
        correlationId=correlation_id,
        causationId=f"cause-{stream_id}-{sequence}{suffix}",
        traceparent=traceparent,
        data=data if data is not None else {"sequence": sequence, "tag": tag},
    )


def batch(stream_id: str, after: int, count: int, *, tag: str = "") -> list[EventEnvelope]:
    """The `count` events that follow version `after` of a stream."""
    return [event(stream_id, after + n, tag=tag) for n in range(1, count + 1)]
