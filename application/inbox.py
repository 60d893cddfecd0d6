"""The command side of a hub: parse each message, handle it, park what can never succeed.

The Event Hubs trigger checkpoints a batch even when the function failed, so a message is
only kept if this code keeps it: refusals and malformed messages are parked at once, and a
transient failure is retried with the batch and parked on the trigger's final attempt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from pydantic import ValidationError

from application.commands import CommandHandler
from application.dead_letters import park
from application.orchestration import BatchReport
from application.ports import DeadLetterStore, TransientFailure
from application.telemetry import log
from domain.errors import DomainError
from domain.messages import CommandEnvelope

logger = logging.getLogger("quoting.commands")


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
        report, failures = BatchReport(), []
        for body in bodies:
            text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
            try:
                envelope = CommandEnvelope.model_validate_json(text)
            except ValidationError as error:
                self._park(text, f"unparseable command: {error}", None)
                report.dead_lettered += 1
                continue
            ids = {"correlationId": envelope.correlationId, "commandId": envelope.commandId}
            try:
                decision = self.handler.handle(envelope)
            except (DomainError, ValidationError, ValueError) as error:
                self._park(text, f"{envelope.commandType} refused: {error}", envelope)
                report.dead_lettered += 1
                continue
            except Exception as error:
                if not final_attempt:
                    log(
                        logger,
                        logging.WARNING,
                        f"{envelope.commandType} failed, will retry: {error!r}",
                        **ids,
                    )
                    failures.append(error)
                    continue
                self._park(text, f"failed after the last retry: {error!r}", envelope)
                report.dead_lettered += 1
                continue
            report.processed += 1
            log(
                logger,
                logging.INFO,
                f"{envelope.commandType} {decision.outcome}",
                **ids,
                streamVersion=decision.version,
                events=",".join(e.eventType for e in decision.events) or None,
            )
        if failures:
            raise TransientFailure(f"{len(failures)} command(s) failed, first: {failures[0]!r}")
        return report

    def _park(self, text: str, reason: str, envelope: CommandEnvelope | None) -> None:
        correlation = envelope.correlationId if envelope else None
        park(self.dead_letters, self.clock, "command", self.origin, text, reason, correlation)
        log(
            logger,
            logging.ERROR,
            f"dead-lettered a command: {reason}",
            correlationId=correlation,
            commandId=envelope.commandId if envelope else None,
        )
