"""What the HTTP API does: create and approve quotes (straight to the quote aggregate), and
read a quote's view or a customer's policies."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from application.commands import CommandHandler
from application.ports import ViewStore
from domain.customer import Customer
from domain.messages import ApproveQuote, Command, CommandEnvelope, CreateQuote, make_command
from domain.quote import Quote

REQUEST_NAMESPACE = uuid.UUID("5d9e2b7c-1f3a-4e6d-8c2b-9a7f0e4d3c21")


@dataclass(frozen=True)
class Created:
    quote: Quote
    created: bool  # False: the same quote was created before (an idempotent repeat)


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
        premium: float,
        quote_id: str | None = None,
        traceparent: str | None = None,
    ) -> Created:
        """Create a quote; with a client-chosen id, repeating the request is safe."""
        quote_id = quote_id or self.new_id()
        command = CreateQuote(quoteId=quote_id, customerId=customer_id, premium=premium)
        decision = self.commands.handle(self._envelope(command, quote_id, traceparent))
        return Created(decision.state, decision.outcome == "appended")

    def approve(self, quote_id: str, traceparent: str | None = None) -> Quote:
        """Approve a quote (which starts its saga); approving again changes nothing."""
        command = ApproveQuote(quoteId=quote_id)
        state: Quote = self.commands.handle(self._envelope(command, quote_id, traceparent)).state
        return state

    def view(self, quote_id: str) -> dict[str, Any] | None:
        """The quote's read model; until the orchestrator has projected it, the quote itself."""
        stored = self.views.get(quote_id)
        if stored is not None and stored.document.get("quote"):
            return stored.document
        quote: Quote | None = self.commands.state_of("quote", quote_id)
        if quote is None:
            return None
        return {
            "id": quote_id,
            "quote": {**quote.model_dump(mode="json"), "policyId": None},
            "saga": None,
            "timeline": [],
        }

    def customer(self, customer_id: str) -> Customer | None:
        state: Customer | None = self.commands.state_of("customer", customer_id)
        return state

    def _envelope(
        self, command: Command, quote_id: str, traceparent: str | None
    ) -> CommandEnvelope:
        # The id of a request's command derives from the quote, so a retried request is the
        # same command (and a duplicate append is refused by the store's receipt).
        name = type(command).__name__
        return make_command(
            command,
            command_id=str(uuid.uuid5(REQUEST_NAMESPACE, f"{name}:{quote_id}")),
            correlation_id=quote_id,
            causation_id=f"http:{name}",
            issued_at=self.clock(),
            traceparent=traceparent,
        )
