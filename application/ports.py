"""The ports the application needs from the outside world, as typing.Protocols.

Every adapter (memory, sqlite, cosmos, eventhubs) implements one of these and passes the same
contract suite in tests/contract.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict

from application.read_model import ListedView, QuoteView
from domain.messages import CommandEnvelope, EventEnvelope


class ConcurrencyConflict(Exception):
    """Another writer got there first (stream version or document etag moved): reload, retry."""


class TransientFailure(Exception):
    """The infrastructure failed in a way that may pass: raise so the trigger retries."""


class Outcome(StrEnum):
    """What deciding on a command or a saga input did (its value is the word logs show)."""

    APPENDED = "appended"
    ALREADY_HANDLED = "already-handled"  # the idempotency key was appended before
    UNCHANGED = "unchanged"  # decided nothing new: never an append's outcome


# An append either lands or finds its command handled; deciding nothing is no append.
AppendOutcome = Literal[Outcome.APPENDED, Outcome.ALREADY_HANDLED]


class EventStore(Protocol):
    """Append-only streams of events, one partition per stream."""

    def read_stream(self, stream_id: str, after: int = 0) -> list[EventEnvelope]:
        """Events of one stream with sequenceNumber > `after`, in sequence order."""
        ...

    def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[EventEnvelope],
        command_id: str,
    ) -> AppendOutcome:
        """Append all of `events` (numbered expected_version+1, ...) or none of them.

        `command_id` was already appended to this stream -> ALREADY_HANDLED, nothing appended
        (checked before the version). The stream is past `expected_version` ->
        ConcurrencyConflict. `events` must belong to `stream_id` and be numbered in order.
        """
        ...


class CommandPublisher(Protocol):
    """Sends commands to their aggregate's hub and forwards events to outside subscribers."""

    def publish(
        self, commands: Sequence[CommandEnvelope], events: Sequence[EventEnvelope] = ()
    ) -> None:
        """Send all of them, or raise: nothing counts as published that was not accepted."""
        ...


class Versioned(BaseModel):
    """A read-model document with the opaque version (Cosmos `_etag`) it was read at."""

    model_config = ConfigDict(frozen=True)

    view: QuoteView
    etag: str


class ViewStore(Protocol):
    """Read-model documents by id (one per quote), replaced optimistically."""

    def get(self, view_id: str) -> Versioned | None: ...

    def save(self, view: QuoteView, etag: str | None) -> str:
        """Create (etag None) or replace the view read (or last saved) at `etag`;
        ConcurrencyConflict if it changed (or, on create, exists) since. Returns the etag the
        view now has, as `get` would report it: a writer may save again at it unread."""
        ...

    def due(self, now: datetime, limit: int = 100) -> list[QuoteView]:
        """Views of sagas that are not terminal and whose `saga.deadline` <= now."""
        ...

    def query(self, query: ViewQuery) -> list[ListedView]:
        """The views `query` selects (application.views.matches), most recent saga first:
        by `saga.startedAt` then id, both descending, views without a startedAt last; only
        those sorted after `query.after`; at most `query.limit`."""
        ...

    def counts(self, now: datetime) -> SagaCounts:
        """How many sagas are in each status, and how many are stuck at `now`."""
        ...


@dataclass(frozen=True)
class PageKey:
    """Where a page of views ended: the last view's `saga.startedAt` (None: it has none) and
    id. Both never change once a saga has started, so a page after it neither repeats nor
    skips a view, whatever started or changed in between."""

    started_at: str | None
    view_id: str


@dataclass(frozen=True)
class ViewQuery:
    """Which quote views to list; each field set narrows the answer."""

    status: str | None = None  # the saga's status
    stuck_at: datetime | None = None  # only sagas stuck at this moment (views.is_stuck)
    customer_id: str | None = None
    started_from: datetime | None = None  # saga.startedAt >= this
    started_to: datetime | None = None  # saga.startedAt <= this
    with_saga: bool = True  # False: quotes without a saga yet as well
    after: PageKey | None = None
    limit: int = 50


@dataclass(frozen=True)
class SagaCounts:
    by_status: dict[str, int]  # every SagaStatus value, 0 when none
    stuck: int


class DeadLetter(BaseModel):
    """A message that can never be processed as it is, parked with the reason."""

    model_config = ConfigDict(frozen=True)

    id: str
    source: Literal["command", "event"]
    origin: str  # hub or container name it came from
    reason: str
    payload: str  # the message body or document, verbatim
    correlationId: str | None = None
    receivedAt: datetime
    replayedAt: datetime | None = None


LetterState = Literal["open", "replayed"]


class DeadLetterStore(Protocol):
    """Parked messages by letter id; a letter stays open (replayedAt None) until its message
    has succeeded on a replay."""

    def put(self, letter: DeadLetter) -> None:
        """Park a letter; the same id again changes nothing."""
        ...

    def get(self, letter_id: str) -> DeadLetter | None: ...

    def list(
        self,
        limit: int = 100,
        correlation_id: str | None = None,
        state: LetterState | None = None,
    ) -> list[DeadLetter]:
        """Most recent first; only a quote's letters with `correlation_id`, only the open
        (replayedAt None) or replayed ones with `state`."""
        ...

    def update_reason(self, letter_id: str, reason: str) -> None:
        """Record why the letter's message failed again (a refused replay); everything else
        about the letter stays. KeyError for an unknown id."""
        ...

    def mark_replayed(self, letter_id: str, at: datetime) -> None:
        """Close the letter: its message succeeded. KeyError for an unknown id."""
        ...
