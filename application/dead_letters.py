"""Parking a message that cannot be processed, so no failure is only a log line."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Literal

from application.ports import DeadLetter, DeadLetterStore

DEAD_LETTER_NAMESPACE = uuid.UUID("a3c1d6e2-4f7b-4c8e-9d10-5b2e7f9a0c34")


def park(
    store: DeadLetterStore,
    clock: Callable[[], datetime],
    source: Literal["command", "event"],
    origin: str,
    payload: str,
    reason: str,
    correlation_id: str | None = None,
) -> DeadLetter:
    """Store the message verbatim with the reason; the same message parked twice is one letter."""
    letter_id = str(uuid.uuid5(DEAD_LETTER_NAMESPACE, f"{source}:{origin}:{payload}"))
    letter = DeadLetter(
        id=letter_id,
        source=source,
        origin=origin,
        reason=reason[:2000],
        payload=payload,
        correlationId=correlation_id,
        receivedAt=clock(),
    )
    store.put(letter)
    return letter
