"""What the HTTP API does: create and approve quotes (straight to the quote aggregate), and
read a quote's view, a customer's policies or a customer's quotes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from application.commands import CommandHandler
from application.ports import Outcome, ViewQuery, ViewStore
from application.read_model import ListedView, QuoteSummary, SagaProgress, TimelineEntry
from application.sagas import DEFAULT_PAGE, decode_continuation, views_page
from domain.customer import Customer
from domain.errors import InconsistentStream, Unprocessable
from domain.ids import uuid5
from domain.messages import ApproveQuote, CommandEnvelope, CreateQuote, Premium
from domain.quote import Quote, QuoteStatus
from domain.registry import CUSTOMER, QUOTE, Command, command_name, make_command
from domain.saga import SagaStatus, Step

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
        decision = self.commands.handle_as(QUOTE, self._envelope(command, quote_id, traceparent))
        return Created(_decided(decision.state, quote_id), decision.outcome is Outcome.APPENDED)

    def approve(self, quote_id: str, traceparent: str | None = None) -> ShownQuote:
        """Approve a quote (which starts its saga); approving again changes nothing. Returns
        the quote's view with the quote as decided just now."""
        command = ApproveQuote(quoteId=quote_id)
        decision = self.commands.handle_as(QUOTE, self._envelope(command, quote_id, traceparent))
        state = _decided(decision.state, quote_id)
        if decision.outcome is Outcome.APPENDED:
            # Approved just now: its saga starts from this event, so the reply says so without
            # reading the view (one request less per saga); a repeat shows the view as it is.
            return _present(_fresh_view(state), state)
        return _present(self._stored_view(quote_id) or _fresh_view(state), state)

    def view(self, quote_id: str) -> ShownQuote | None:
        """The quote's read model (eventually consistent with its streams). Until the
        orchestrator has projected its saga, the quote's own state is overlaid, so an approval
        shows at once (`projected` False). A stream holding an event this code cannot
        read leaves the read model as it stands; with no read model either, Unprocessable."""
        stored = self._stored_view(quote_id)
        if stored is not None and stored.saga:
            return _present(stored)
        try:
            quote = self.commands.state_of(QUOTE, quote_id)
        except Unprocessable:
            if stored is None:
                raise
            return _present(stored)
        if quote is None:  # no quote stream, so no view either: views are projected from it
            return None
        return _present(stored or _fresh_view(quote), quote)

    def _stored_view(self, quote_id: str) -> ShownQuote | None:
        stored = self.views.get(quote_id)
        view = stored.view if stored is not None else None
        if view is None or view.quote is None:
            return None
        return ShownQuote(quote=view.quote, saga=view.saga, timeline=view.timeline)

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
        return self.commands.state_of(CUSTOMER, customer_id)

    def _envelope(
        self, command: Command, quote_id: str, traceparent: str | None
    ) -> CommandEnvelope:
        # The id of a request's command derives from what it asks, so a retried request is the
        # same command (a duplicate append is refused by the store's receipt), and the same
        # quote id with other terms is another command (which the quote then refuses).
        name = command_name(command)
        request = _seed_text(command)
        return make_command(
            command,
            command_id=uuid5(REQUEST_NAMESPACE, f"{name}:{request}"),
            correlation_id=quote_id,
            causation_id=f"http:{name}",
            issued_at=self.clock(),
            traceparent=traceparent,
        )


def _decided(quote: Quote | None, quote_id: str) -> Quote:
    """The quote a create or an approval left (one that refused raised instead)."""
    if quote is None:
        raise InconsistentStream(f"quote {quote_id} has no state after a decision on it")
    return quote


@dataclass(frozen=True)
class ShownQuote:
    """A quote's view as the API shows it: `projected` False when the saga shown is only what
    an approval is known to start (the orchestrator has not projected it yet)."""

    quote: QuoteSummary
    saga: SagaProgress | None
    timeline: tuple[TimelineEntry, ...] = ()
    projected: bool = True


def _fresh_view(quote: Quote) -> ShownQuote:
    return ShownQuote(quote=QuoteSummary(quoteId=quote.quoteId), saga=None)


def _present(shown: ShownQuote, quote: Quote | None = None) -> ShownQuote:
    """Overlay a quote state newer than the view; with no saga projected yet, an approved
    quote shows the saga its approval starts."""
    if quote is not None:
        fresh = {"customerId": quote.customerId, "premium": quote.premium,
                 "status": quote.status, "rejectionReason": quote.rejectionReason}  # fmt: skip
        shown = replace(shown, quote=shown.quote.model_copy(update=fresh))
    if shown.saga is None and shown.quote.status == QuoteStatus.APPROVED:
        pending = SagaProgress(status=SagaStatus.RUNNING, step=Step.CREATE_POLICY)
        return replace(shown, saga=pending, projected=False)
    return shown


def _seed_text(command: Command) -> str:
    """The command's JSON as written when premiums were floats (`"premium":100.0`), so the id of
    a request retried across the change to Decimal stays the same. Never compared as amounts:
    a float tells apart every NewPremium (at most 14 significant digits; a double keeps 15)."""
    if not isinstance(command, CreateQuote):
        return command.model_dump_json()
    data = command.model_dump() | {"premium": float(command.premium)}  # the rest is str
    return json.dumps(data, separators=(",", ":"))


def _customer_quote(view: ListedView) -> CustomerQuote:
    quote, saga = view.quote, view.saga
    return CustomerQuote(
        quoteId=view.id,
        premium=quote.premium if quote else None,
        quoteStatus=quote.status if quote else None,
        sagaStatus=saga.status if saga else None,
        policyId=quote.policyId if quote else None,
        startedAt=saga.startedAt if saga else None,
    )
