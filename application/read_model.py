"""The quote read model's types: one document per quote (`QuoteView`), as every view store keeps
it. Dumped with `model_dump(mode="json")` they are the stored JSON, field for field and text for
text, so documents written while the view was a plain dict load and save back unchanged.

Times keep the text each field was written in: a timeline timestamp and a deadline as
`datetime.isoformat()` (not pydantic's `Z`), startedAt/updatedAt as `utc_text` (fixed width,
compared as plain strings by the SQLite and Cosmos queries). A field the document leaves out
when unknown (`startedAt`; a quote's terms before its creation is projected) is left out again,
not written as null: the Cosmos query tells them apart (`NOT IS_DEFINED(c.saga.startedAt)`).
A timeline entry's reason and a quote's policyId are left out while None too (a null in each
entry made the first views just over 1 KB: docs/cosmos.md), also where a part was read with one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
)

from domain.messages import Premium
from domain.quote import QuoteStatus
from domain.saga_events import SagaStatus, Step


def utc_text(moment: datetime) -> str:
    """ISO 8601 in UTC with microseconds, one fixed width: such texts sort as their times do,
    so every store compares and orders them as plain strings. Naive times count as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def iso_text(moment: datetime) -> str:
    """A time as the view has always stored it: `isoformat()`, its own offset kept."""
    return moment.isoformat()


# A time stored as `isoformat()` / as `utc_text`; JSON schema: a date-time string.
IsoTime = Annotated[datetime, PlainSerializer(iso_text, return_type=str, when_used="json")]
UtcTime = Annotated[datetime, PlainSerializer(utc_text, return_type=str, when_used="json")]


def _unknown(value: object) -> bool:
    return value is None


# Left out of the document while None: the field's absence is how the view says "unknown".
OMITTED = Field(None, exclude_if=_unknown)


# Ids are plain text here, not domain.messages.Identifier: every id was checked on its way in,
# and a view must load whatever was stored (no pattern a later version tightened).


class Part(BaseModel):
    """A frozen part of a view. Fields this code does not know (written by a newer version)
    are kept and saved back, as they were when the view was a dict."""

    model_config = ConfigDict(frozen=True, extra="allow")


class QuoteSummary(Part):
    """The quote as its events tell it; its terms stay out until its creation is projected."""

    quoteId: str
    policyId: str | None = OMITTED  # until the policy is created
    customerId: str | None = OMITTED
    premium: Premium | None = OMITTED
    status: QuoteStatus | None = OMITTED
    rejectionReason: str | None = OMITTED


class SagaProgress(Part):
    """The saga's state as of `version` of its stream, and its story from the timeline."""

    status: SagaStatus
    step: Step | None = None
    deadline: IsoTime | None = None
    policyId: str | None = None
    version: int = 0  # documents have always had it; 0 is what a missing one meant
    startedAt: UtcTime | None = OMITTED
    updatedAt: UtcTime | None = OMITTED
    reason: str | None = OMITTED


class TimelineEntry(Part):
    """One stored event of the quote or its saga (most have no reason: stored without one)."""

    eventId: str
    eventType: str
    streamId: str
    sequenceNumber: int
    timestamp: IsoTime
    reason: str | None = OMITTED


class ListedView(Part):
    """What ViewStore.query returns of a view: all but its timeline (and a store's own
    fields)."""

    id: str
    customerId: str | None = OMITTED
    quote: QuoteSummary | None = None
    saga: SagaProgress | None = None


class QuoteView(ListedView):
    """One quote's read-model document."""

    docType: Literal["quote-view"] = "quote-view"
    timeline: tuple[TimelineEntry, ...] = ()
