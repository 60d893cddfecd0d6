"""Commands, events and their envelopes: the wire and storage contract of the quoting saga.

Stored names (`eventType`, `commandType`, field aliases) are the contract; class names may change.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from domain import money
from domain.errors import Unprocessable

# Letters, digits, ".", "_", "-"; 1-64 long; not "." or "..", which clients and proxies
# normalise away as path segments (RFC 3986 5.2.4), so such an id could never be read back.
ID_PATTERN = (
    r"^(?:[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}"
    r"|\.[A-Za-z0-9_-][A-Za-z0-9._-]{0,62}"
    r"|\.\.[A-Za-z0-9._-]{1,62})$"
)
ID_RULE = "1-64 letters, digits, '.', '_' or '-', and not '.' or '..'"
Identifier = Annotated[str, Field(pattern=ID_PATTERN)]
Premium = money.Premium  # what messages carry, named here (the rules are in domain.money)
NewPremium = money.NewPremium


class Message(BaseModel):
    """A frozen payload: commands and events are values."""

    model_config = ConfigDict(frozen=True, extra="forbid")


# --- commands (imperative) -------------------------------------------------------------------


class CreateQuote(Message):
    quoteId: Identifier
    customerId: Identifier
    premium: NewPremium  # new money follows the rule; what was recorded before reads as it was


class ApproveQuote(Message):
    quoteId: Identifier


class RejectQuote(Message):
    quoteId: Identifier
    reason: str


class CreatePolicy(Message):
    policyId: Identifier
    quoteId: Identifier
    customerId: Identifier
    premium: Premium


class CancelPolicy(Message):
    policyId: Identifier
    quoteId: Identifier
    reason: str


class UpdateCustomerPolicyCount(Message):
    customerId: Identifier
    policyId: Identifier
    quoteId: Identifier


class RemoveCustomerPolicy(Message):
    customerId: Identifier
    policyId: Identifier
    quoteId: Identifier
    reason: str


QuoteCommand = CreateQuote | ApproveQuote | RejectQuote
PolicyCommand = CreatePolicy | CancelPolicy
CustomerCommand = UpdateCustomerPolicyCount | RemoveCustomerPolicy

# --- events (past tense) ---------------------------------------------------------------------


class QuoteCreated(Message):
    quoteId: Identifier
    customerId: Identifier
    premium: Premium


class QuoteApproved(Message):
    quoteId: Identifier
    customerId: Identifier
    premium: Premium


class QuoteRejected(Message):
    quoteId: Identifier
    reason: str


class PolicyCreated(Message):
    policyId: Identifier
    quoteId: Identifier
    customerId: Identifier
    premium: Premium


class PolicyCreationFailed(Message):
    policyId: Identifier
    quoteId: Identifier
    customerId: Identifier
    reason: str


class PolicyCancelled(Message):
    policyId: Identifier
    quoteId: Identifier
    reason: str


class CustomerPolicyCountUpdated(Message):
    customerId: Identifier
    policyId: Identifier
    quoteId: Identifier
    policyCount: int


class CustomerPolicyCountUpdateFailed(Message):
    customerId: Identifier
    policyId: Identifier
    quoteId: Identifier
    reason: str


class CustomerPolicyRemoved(Message):
    customerId: Identifier
    policyId: Identifier
    quoteId: Identifier
    policyCount: int


QuoteEvent = QuoteCreated | QuoteApproved | QuoteRejected
PolicyEvent = PolicyCreated | PolicyCreationFailed | PolicyCancelled
CustomerEvent = CustomerPolicyCountUpdated | CustomerPolicyCountUpdateFailed | CustomerPolicyRemoved

# --- envelopes -------------------------------------------------------------------------------

DocType = Literal["event", "saga-event", "receipt"]
# A stream's category: a registered aggregate's (domain/registry.py) or the saga's.
StreamCategory = str
SAGA_CATEGORY: StreamCategory = "saga"


def stream_id(category: StreamCategory, aggregate_id: str) -> str:
    """The stream (and Cosmos partition key) of one aggregate: `quote-Q1`, `saga-Q1`."""
    return f"{category}-{aggregate_id}"


def document_id(stream: str, sequence_number: int) -> str:
    """A stored event's id: a second writer of the same sequence collides on it."""
    return f"{stream}:{sequence_number:010d}"


class Envelope(BaseModel):
    """Shared envelope behaviour: frozen, tolerant of storage metadata (`_rid`, `_ts`, ...)."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class CommandEnvelope(Envelope):
    """A command on the wire: what to do, to which aggregate, and why."""

    commandId: str
    commandType: str
    aggregateId: Identifier
    correlationId: str
    causationId: str
    issuedAt: datetime
    schemaVersion: int = 1
    traceparent: str | None = None
    data: dict[str, Any]


class EventEnvelope(Envelope):
    """A stored event: one document per event in its stream's partition."""

    id: str
    streamId: str
    sequenceNumber: int = Field(ge=1)
    eventId: str
    eventType: str
    schemaVersion: int = Field(ge=1)
    timestamp: datetime
    correlationId: str
    causationId: str
    traceparent: str | None = None
    data: dict[str, Any]

    @property
    def doc_type(self) -> DocType:
        """Saga streams are stored beside domain events but are not domain events."""
        return "saga-event" if self.streamId.startswith(f"{SAGA_CATEGORY}-") else "event"

    def to_document(self) -> dict[str, Any]:
        """The JSON document as stored (Cosmos item, SQLite row, change-feed entry)."""
        return {**self.model_dump(mode="json"), "docType": self.doc_type}

    def document_text(self) -> str:
        """`to_document()` as JSON text, written by pydantic's serialiser in one pass (no
        dict in between: half the cost of `json.dumps(to_document())`)."""
        return f'{self.model_dump_json()[:-1]},"docType":"{self.doc_type}"}}'


# --- commands on the wire (routing by registered name: domain/registry.py) -------------------


def parse_command(body: str | bytes) -> CommandEnvelope:
    """A command envelope from its wire JSON; Unprocessable if the body is not one."""
    try:
        return CommandEnvelope.model_validate_json(body)
    except ValidationError as error:
        raise Unprocessable(f"unparseable command: {error}") from error
