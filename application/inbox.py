"""The command side of a hub: parse each message, handle it, park what can never succeed.

The batch policy (application/batches.py) decides what is parked and what is retried; this
module says how a command is read, handled, logged and parked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from application.batches import BatchPolicy, BatchReport
from application.commands import CommandHandler
from application.dead_letters import park
from application.deciding import Decision
from application.ports import DeadLetterStore
from application.telemetry import log
from domain.messages import CommandEnvelope, parse_command

logger = logging.getLogger("quoting.commands")


@dataclass
class Received:
    """One message of a batch: its body as delivered and, once parsed, its envelope."""

    body: bytes
    envelope: CommandEnvelope | None = None

    def ids(self) -> Mapping[str, object]:
        if self.envelope is None:
            return {}
        return {"correlationId": self.envelope.correlationId, "commandId": self.envelope.commandId}


class CommandInbox:
    def __init__(
        self,
        handler: CommandHandler,
        dead_letters: DeadLetterStore,
        clock: Callable[[], datetime],
        origin: str,
    ) -> None:
        self.handler, self.dead_letters, self.clock, self.origin = (
            handler,
            dead_letters,
            clock,
            origin,
        )

    def receive(self, bodies: Sequence[bytes | str], final_attempt: bool = False) -> BatchReport:
        """Handle a batch in order; raises RetryBatch when something is left for a retry."""
        batch = BatchPolicy(final_attempt, self._park, Received.ids, logger)
        for body in bodies:
            raw = body.encode() if isinstance(body, str) else body
            batch.attempt(Received(raw), self._handle)
        return batch.done()

    def _handle(self, received: Received) -> Decision[Any]:
        envelope = received.envelope = parse_command(received.body)
        decision = self.handler.handle(envelope)
        log(
            logger,
            logging.INFO,
            f"{envelope.commandType} {decision.outcome.value}",
            **received.ids(),
            streamVersion=decision.version,
            events=",".join(e.eventType for e in decision.events) or None,
        )
        return decision

    def _park(self, received: Received, reason: str) -> None:
        envelope = received.envelope
        if envelope is not None:
            reason = f"{envelope.commandType} {envelope.commandId}: {reason}"
        park(
            self.dead_letters,
            self.clock,
            "command",
            self.origin,
            received.body,
            reason,
            message_id=envelope.commandId if envelope else None,
            correlation_id=envelope.correlationId if envelope else None,
        )
        log(logger, logging.ERROR, f"dead-lettered a command: {reason}", **received.ids())
