"""Parking a message that cannot be processed, so no failure is only a log line.

A letter's identity is its message's: the command id or event id (so the same message parked
again, or refused again on replay, is the same letter, however its body was re-serialised on
the way); only a message without a readable id (unparseable) is known by its raw bytes.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Literal

from application.ports import DeadLetter, DeadLetterStore
from domain.ids import uuid5

DEAD_LETTER_NAMESPACE = uuid.UUID("a3c1d6e2-4f7b-4c8e-9d10-5b2e7f9a0c34")
Source = Literal["command", "event"]
MAX_REASON = 2000  # characters of a reason kept (an error's text can be any length)


def letter_id(source: Source, origin: str, message_id: str | None, body: bytes) -> str:
    """The letter of a message id; of the raw body (on its origin) when there is no id."""
    if message_id:
        return uuid5(DEAD_LETTER_NAMESPACE, f"{source}:id:{message_id}")
    digest = hashlib.sha256(body).hexdigest()
    return uuid5(DEAD_LETTER_NAMESPACE, f"{source}:{origin}:raw:{digest}")


def park(
    store: DeadLetterStore,
    clock: Callable[[], datetime],
    source: Source,
    origin: str,
    body: bytes,
    reason: str,
    *,
    message_id: str | None = None,
    correlation_id: str | None = None,
) -> DeadLetter:
    """Store the message verbatim with the reason; the same message parked twice is one letter
    (the first reason kept: a replay records a new one on it)."""
    letter = DeadLetter(
        id=letter_id(source, origin, message_id, body),
        source=source,
        origin=origin,
        reason=reason[:MAX_REASON],
        payload=body.decode(errors="replace"),  # UTF-8
        correlationId=correlation_id,
        receivedAt=clock(),
    )
    store.put(letter)
    return letter
