"""Operating the sagas: list them (filtered, most recent first, a page at a time), count them
by status, and tell which are stuck. The HTTP API and `python -m devhost sagas` both call this.

A page ends with an opaque continuation: the last view's (startedAt, quote id), the keyset the
views are sorted by, so every store pages the same way and no page repeats or skips a saga.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from application.ports import PageKey, SagaCounts, ViewQuery, ViewStore
from application.read_model import ListedView
from application.views import is_stuck, page_key, utc_text
from domain.messages import Premium
from domain.saga import TERMINAL, SagaStatus

DEFAULT_PAGE = 50
MAX_PAGE = 100


class InvalidQuery(Exception):
    """A query the sagas cannot be listed by; `parameter` names what is wrong."""

    def __init__(self, parameter: str, detail: str) -> None:
        super().__init__(detail)
        self.parameter, self.detail = parameter, detail


class SagaSummary(BaseModel):
    """One saga as a row of the list: where it stands, since when, and why."""

    model_config = ConfigDict(frozen=True)

    quoteId: str
    customerId: str | None = None
    premium: Premium | None = None
    status: SagaStatus
    step: str | None = Field(None, description="The step it waits on; null once it ended.")
    deadline: datetime | None = None
    stuck: bool = Field(description="Not ended, and its step's deadline has passed.")
    startedAt: datetime | None = Field(None, description="When SagaStarted was recorded.")
    updatedAt: datetime | None = Field(None, description="When its last saga event was.")
    policyId: str | None = None
    reason: str | None = Field(None, description="The last reason a saga event gave.")


class SagaPage(BaseModel):
    """A page of sagas, most recent first."""

    items: list[SagaSummary]
    continuation: str | None = Field(
        description="Pass as `continuation` for the next page; null on the last page."
    )


class SagaTotals(BaseModel):
    """How many sagas are in each status, and how many of them are stuck."""

    counts: dict[SagaStatus, int]
    stuck: int


def summary(view: ListedView, now: datetime) -> SagaSummary:
    """The list row of a view that has a saga."""
    saga, quote = view.saga, view.quote
    if saga is None:
        raise ValueError(f"view {view.id} has no saga to list")  # the query asks for sagas
    return SagaSummary(
        quoteId=view.id,
        customerId=view.customerId or (quote.customerId if quote else None),
        premium=quote.premium if quote else None,
        status=saga.status,
        step=None if saga.status in TERMINAL else saga.step,
        deadline=saga.deadline,
        stuck=is_stuck(view, now),
        startedAt=saga.startedAt,
        updatedAt=saga.updatedAt,
        policyId=saga.policyId or (quote.policyId if quote else None),
        reason=saga.reason,
    )


def encode_continuation(key: PageKey) -> str:
    text = json.dumps([key.started_at, key.view_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().replace("=", "")  # no padding


def decode_continuation(token: str) -> PageKey:
    """The key a continuation stands for; InvalidQuery unless this code made it."""
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
        started_at, view_id = json.loads(raw)
        if not isinstance(view_id, str) or not view_id:
            raise ValueError  # no view id
        if started_at is not None and utc_text(datetime.fromisoformat(started_at)) != started_at:
            raise ValueError  # not a startedAt this code wrote
    except (ValueError, TypeError, binascii.Error, RecursionError) as error:
        detail = "continuation is not a token a previous page returned"
        raise InvalidQuery("continuation", detail) from error
    return PageKey(started_at, view_id)


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidQuery("limit", f"limit must be an integer from 1 to {MAX_PAGE}")
    return limit


def views_page(views: ViewStore, query: ViewQuery) -> tuple[list[ListedView], str | None]:
    """Up to `query.limit` views, and the continuation when more follow: one more is asked
    for, so the last page says so itself (no empty page after it)."""
    limit = check_limit(query.limit)
    found = views.query(replace(query, limit=limit + 1))
    if len(found) <= limit:
        return found, None
    return found[:limit], encode_continuation(page_key(found[limit - 1]))


class SagaService:
    def __init__(self, views: ViewStore, clock: Callable[[], datetime]) -> None:
        self.views, self.clock = views, clock

    def page(
        self,
        *,
        status: SagaStatus | None = None,
        stuck: bool = False,
        customer_id: str | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        limit: int = DEFAULT_PAGE,
        continuation: str | None = None,
    ) -> SagaPage:
        """One page of the sagas that match every filter given; `stuck`: only stuck ones."""
        if created_from and created_to and utc_text(created_from) > utc_text(created_to):
            raise InvalidQuery("createdFrom", "createdFrom must not be after createdTo")
        now = self.clock()
        query = ViewQuery(
            status=status.value if status else None,
            stuck_at=now if stuck else None,
            customer_id=customer_id,
            started_from=created_from,
            started_to=created_to,
            limit=check_limit(limit),
            after=decode_continuation(continuation) if continuation else None,
        )
        views, token = views_page(self.views, query)
        return SagaPage(items=[summary(v, now) for v in views], continuation=token)

    def totals(self) -> SagaTotals:
        counts: SagaCounts = self.views.counts(self.clock())
        by_status = {s: counts.by_status[s.value] for s in SagaStatus}
        return SagaTotals(counts=by_status, stuck=counts.stuck)
