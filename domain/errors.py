"""Typed refusals: a command the domain will not carry out, with the reason a caller can act on."""

from typing import Literal

ErrorKind = Literal["not-found", "conflict", "invalid"]


class DomainError(Exception):
    """The domain refused a command outright; retrying it unchanged cannot succeed."""

    def __init__(self, kind: ErrorKind, detail: str) -> None:
        super().__init__(detail)
        self.kind: ErrorKind = kind
        self.detail = detail
