"""The quote aggregate: created, approved once, rejected by compensation."""

from __future__ import annotations

from enum import StrEnum
from typing import assert_never

from pydantic import BaseModel, ConfigDict

from domain.errors import DomainError, InconsistentStream
from domain.messages import (
    ApproveQuote,
    CreateQuote,
    Premium,
    QuoteApproved,
    QuoteCommand,
    QuoteCreated,
    QuoteEvent,
    QuoteRejected,
    RejectQuote,
)


class QuoteStatus(StrEnum):
    CREATED = "Created"
    APPROVED = "Approved"
    REJECTED = "Rejected"


class Quote(BaseModel):
    model_config = ConfigDict(frozen=True)

    quoteId: str
    customerId: str
    premium: Premium
    status: QuoteStatus
    rejectionReason: str | None = None


initial_state: Quote | None = None


def decide(state: Quote | None, command: QuoteCommand) -> list[QuoteEvent]:
    match command:
        case CreateQuote():
            if state is None:
                return [QuoteCreated(**command.model_dump())]
            if (state.customerId, state.premium) == (command.customerId, command.premium):
                return []
            raise DomainError("conflict", f"quote {command.quoteId} exists with other terms")
        case ApproveQuote():
            if state is None:
                raise DomainError("not-found", f"quote {command.quoteId} does not exist")
            if state.status is QuoteStatus.REJECTED:
                raise DomainError("conflict", f"quote {command.quoteId} was rejected")
            if state.status is QuoteStatus.APPROVED:
                return []
            return [
                QuoteApproved(
                    quoteId=state.quoteId, customerId=state.customerId, premium=state.premium
                )
            ]
        case RejectQuote():
            if state is None:
                raise DomainError("not-found", f"quote {command.quoteId} does not exist")
            if state.status is QuoteStatus.REJECTED:
                return []
            return [QuoteRejected(quoteId=command.quoteId, reason=command.reason)]
        case _:
            assert_never(command)


def evolve(state: Quote | None, event: QuoteEvent) -> Quote | None:
    match event:
        case QuoteCreated():
            return Quote(
                quoteId=event.quoteId,
                customerId=event.customerId,
                premium=event.premium,
                status=QuoteStatus.CREATED,
            )
        case QuoteApproved():
            return _created(state, event).model_copy(update={"status": QuoteStatus.APPROVED})
        case QuoteRejected():
            return _created(state, event).model_copy(
                update={"status": QuoteStatus.REJECTED, "rejectionReason": event.reason}
            )
        case _:
            assert_never(event)


def _created(state: Quote | None, event: QuoteEvent) -> Quote:
    if state is None:
        raise InconsistentStream(f"quote {event.quoteId} has events before its QuoteCreated")
    return state
