"""Commands, events and their envelopes: the wire and storage contract of the quoting saga.

Stored names (`eventType`, `commandType`, field aliases) are the contract; class names may change.
"""

from __future__ import annotations

import re
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
Command = QuoteCommand | PolicyCommand | CustomerCommand

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
DomainEvent = QuoteEvent | PolicyEvent | CustomerEvent

# --- envelopes -------------------------------------------------------------------------------

DocType = Literal["event", "saga-event", "receipt"]
StreamCategory = Literal["quote", "policy", "customer", "saga"]
SAGA_CATEGORY: StreamCategory = "saga"
_STREAM = re.compile(r"^(quote|policy|customer|saga)-(.+)$")


def stream_id(category: StreamCategory, aggregate_id: str) -> str:
    """The stream (and Cosmos partition key) of one aggregate: `quote-Q1`, `saga-Q1`."""
    return f"{category}-{aggregate_id}"


def split_stream_id(value: str) -> tuple[str, str]:
    """`quote-Q1` -> (`quote`, `Q1`); a ValueError for a stream id of no known category."""
    match = _STREAM.match(value)
    if match is None:
        raise ValueError(f"not a stream id: {value!r}")
    return match.group(1), match.group(2)


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


# --- command registry ------------------------------------------------------------------------

_TARGET_FIELD: dict[StreamCategory, str] = {
    "quote": "quoteId",
    "policy": "policyId",
    "customer": "customerId",
}

COMMAND_TYPES: dict[str, tuple[StreamCategory, type[Message]]] = {
    "CreateQuote": ("quote", CreateQuote),
    "ApproveQuote": ("quote", ApproveQuote),
    "RejectQuote": ("quote", RejectQuote),
    "CreatePolicy": ("policy", CreatePolicy),
    "CancelPolicy": ("policy", CancelPolicy),
    "UpdateCustomerPolicyCount": ("customer", UpdateCustomerPolicyCount),
    "RemoveCustomerPolicy": ("customer", RemoveCustomerPolicy),
}
_COMMAND_NAMES = {cls: name for name, (_, cls) in COMMAND_TYPES.items()}


def command_category(command_type: str) -> StreamCategory:
    """The aggregate a command type targets; a ValueError for an unknown type."""
    if command_type not in COMMAND_TYPES:
        raise ValueError(f"unknown command type {command_type!r}")
    return COMMAND_TYPES[command_type][0]


def make_command(
    command: Command,
    *,
    command_id: str,
    correlation_id: str,
    causation_id: str,
    issued_at: datetime,
    traceparent: str | None = None,
) -> CommandEnvelope:
    """Wrap a command for the wire, addressed to its target aggregate."""
    name = _COMMAND_NAMES[type(command)]
    target = getattr(command, _TARGET_FIELD[COMMAND_TYPES[name][0]])
    return CommandEnvelope(
        commandId=command_id,
        commandType=name,
        aggregateId=target,
        correlationId=correlation_id,
        causationId=causation_id,
        issuedAt=issued_at,
        traceparent=traceparent,
        data=command.model_dump(mode="json"),
    )


def parse_command(body: str | bytes) -> CommandEnvelope:
    """A command envelope from its wire JSON; Unprocessable if the body is not one."""
    try:
        return CommandEnvelope.model_validate_json(body)
    except ValidationError as error:
        raise Unprocessable(f"unparseable command: {error}") from error


def read_command(envelope: CommandEnvelope) -> Command:
    """The typed command inside an envelope; Unprocessable if it is of no known type, not
    valid, or addressed to another aggregate than its own."""
    if envelope.commandType not in COMMAND_TYPES:
        raise Unprocessable(f"unknown command type {envelope.commandType!r}")
    category, cls = COMMAND_TYPES[envelope.commandType]
    try:
        command: Command = cls.model_validate(envelope.data)  # type: ignore[assignment]
    except ValidationError as error:
        raise Unprocessable(f"{envelope.commandType} is not valid: {error}") from error
    target = getattr(command, _TARGET_FIELD[category])
    if target != envelope.aggregateId:
        raise Unprocessable(f"aggregateId {envelope.aggregateId!r} does not match {target!r}")
    return command
