"""Failure kinds as types: a message that can never succeed as it is (`Unprocessable`), and a
command the domain refuses (`DomainError`, one kind of it). Anything else may pass on a retry."""

from typing import Literal

ErrorKind = Literal["not-found", "conflict", "invalid"]


class Unprocessable(Exception):
    """This message can never be processed as it is: retrying it unchanged cannot succeed.

    Raised only where the codec or the domain knows it (unparseable, unknown type, failed
    validation, refused, a stream that contradicts itself): the batch policy parks such a
    message at once and retries everything else.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DomainError(Unprocessable):
    """The domain refused a command outright; retrying it unchanged cannot succeed."""

    def __init__(self, kind: ErrorKind, detail: str) -> None:
        super().__init__(detail)
        self.kind: ErrorKind = kind
        self.detail = detail


class InconsistentStream(Unprocessable):
    """Stored events contradict each other (e.g. an approval before any creation): no input
    to that stream can be decided until someone repairs it."""
