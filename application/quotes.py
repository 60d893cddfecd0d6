"""What the HTTP API does: create and approve quotes (straight to the quote aggregate), and
read a quote's view, a customer's policies or a customer's quotes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from application.commands import CommandHandler
from application.ports import ViewQuery, ViewStore
from application.sagas import DEFAULT_PAGE, decode_continuation, views_page
from domain.customer import Customer
from domain.errors import Unprocessable
from domain.messages import (
    ApproveQuote,
    Command,
    CommandEnvelope,
    CreateQuote,
    Premium,
    make_command,
)
from domain.quote import Quote, QuoteStatus
from domain.saga import CREATE_POLICY, SagaStatus

REQUEST_NAMESPACE = uuid.UUID("5d9e2b7c-1f3a-4e6d-8c2b-9a7f0e4d3c21")


@dataclass(frozen=True)
class Created:
    quote: Quote
    created: bool  # False: the same quote was created before (an idempotent repeat)


class CustomerQuote(BaseModel):
    """One of a customer's quotes and its saga's status (null: no saga yet)."""

    model_config = ConfigDict(frozen=True)

    quoteId: str
    premium: Premium | None = None
    quoteStatus: QuoteStatus | None = None
    sagaStatus: SagaStatus | None = None
    policyId: str | None = Field(None, description="The quote's policy, once created.")
    startedAt: datetime | None = Field(None, description="When its saga started.")


class CustomerQuotes(BaseModel):
    """A customer's quotes, the most recently started saga first (quotes without one last)."""

    customerId: str
    items: list[CustomerQuote]
    continuation: str | None = Field(
        description="Pass as `continuation` for the next page; null on the last page."
    )


class QuoteService:
    def __init__(
        self,
        commands: CommandHandler,
        views: ViewStore,
        clock: Callable[[], datetime],
        new_id: Callable[[], str],
    ) -> None:
        self.commands, self.views, self.clock, self.new_id = commands, views, clock, new_id

    def create(
        self,
        customer_id: str,
        premium: Decimal,
        quote_id: str | None = None,
        traceparent: str | None = None,
    ) -> Created:
        """Create a quote; with a client-chosen id, repeating the request is safe."""
        quote_id = quote_id or self.new_id()
        command = CreateQuote(quoteId=quote_id, customerId=customer_id, premium=premium)
        decision = self.commands.handle(self._envelope(command, quote_id, traceparent))
        return Created(decision.state, decision.outcome == "appended")

    def approve(self, quote_id: str, traceparent: str | None = None) -> dict[str, Any]:
        """Approve a quote (which starts its saga); approving again changes nothing. Returns
        the quote's view with the quote as decided just now."""
        command = ApproveQuote(quoteId=quote_id)
        state: Quote = self.commands.handle(self._envelope(command, quote_id, traceparent)).state
        return self._present(self._stored_view(quote_id) or self._fresh_view(state), state)

    def view(self, quote_id: str) -> dict[str, Any] | None:
        """The quote's read model (eventually consistent with its streams). Until the
        orchestrator has projected its saga, the quote's own state is overlaid, so an approval
        shows at once (`saga.projected` False). A stream holding an event this code cannot
        read leaves the read model as it stands; with no read model either, Unprocessable."""
        stored = self._stored_view(quote_id)
        if stored is not None and stored["saga"]:
            return self._present(stored)
        try:
            quote: Quote | None = self.commands.state_of("quote", quote_id)
        except Unprocessable:
            if stored is None:
                raise
            return self._present(stored)
        if quote is None:  # no quote stream, so no view either: views are projected from it
            return None
        return self._present(stored or self._fresh_view(quote), quote)

    def _stored_view(self, quote_id: str) -> dict[str, Any] | None:
        stored = self.views.get(quote_id)
        return stored.document if stored is not None and stored.document.get("quote") else None

    @staticmethod
    def _fresh_view(quote: Quote) -> dict[str, Any]:
        return {"id": quote.quoteId, "quote": {}, "saga": None, "timeline": []}

    @staticmethod
    def _present(view: dict[str, Any], quote: Quote | None = None) -> dict[str, Any]:
        """Overlay a quote state newer than the view; `saga.projected` is False when the
        saga shown is only what an approval is known to start."""
        if quote is not None:
            fresh = quote.model_dump(mode="json")
            view = {**view, "quote": {"policyId": None, **view["quote"], **fresh}}
        if view["saga"]:
            return {**view, "saga": {**view["saga"], "projected": True}}
        if view["quote"].get("status") == QuoteStatus.APPROVED:
            pending = {"status": SagaStatus.RUNNING.value, "step": CREATE_POLICY}
            return {**view, "saga": {**pending, "projected": False}}
        return view

    def customer_quotes(
        self, customer_id: str, limit: int = DEFAULT_PAGE, continuation: str | None = None
    ) -> CustomerQuotes | None:
        """A page of the customer's quotes (from the read model); None when the customer has
        no quote at all."""
        after = decode_continuation(continuation) if continuation else None
        query = ViewQuery(customer_id=customer_id, with_saga=False, limit=limit, after=after)
        views, token = views_page(self.views, query)
        if not views and after is None:
            return None
        items = [_customer_quote(view) for view in views]
        return CustomerQuotes(customerId=customer_id, items=items, continuation=token)

    def customer(self, customer_id: str) -> Customer | None:
        state: Customer | None = self.commands.state_of("customer", customer_id)
        return state

    def _envelope(
        self, command: Command, quote_id: str, traceparent: str | None
    ) -> CommandEnvelope:
        # The id of a request's command derives from what it asks, so a retried request is the
        # same command (a duplicate append is refused by the store's receipt), and the same
        # quote id with other terms is another command (which the quote then refuses).
        name = type(command).__name__
        request = _seed_text(command)
        return make_command(
            command,
            command_id=str(uuid.uuid5(REQUEST_NAMESPACE, f"{name}:{request}")),
            correlation_id=quote_id,
            causation_id=f"http:{name}",
            issued_at=self.clock(),
            traceparent=traceparent,
        )


def _seed_text(command: Command) -> str:
    """The command's JSON as written when premiums were floats (`"premium":100.0`), so the id of
    a request retried across the change to Decimal stays the same. Never compared as amounts:
    a float tells apart every NewPremium (at most 14 significant digits; a double keeps 15)."""
    if not isinstance(command, CreateQuote):
        return command.model_dump_json()
    data = command.model_dump() | {"premium": float(command.premium)}  # the rest is str
    return json.dumps(data, separators=(",", ":"))


def _customer_quote(view: dict[str, Any]) -> CustomerQuote:
    quote, saga = view.get("quote") or {}, view.get("saga") or {}
    return CustomerQuote(
        quoteId=view["id"],
        premium=quote.get("premium"),
        quoteStatus=quote.get("status"),
        sagaStatus=saga.get("status"),
        policyId=quote.get("policyId"),
        startedAt=saga.get("startedAt"),
    )
