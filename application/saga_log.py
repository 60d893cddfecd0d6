"""The saga's story in the log: one line per transition, `saga Running -> Compensating at
RejectQuote on PolicyCreationFailed: <reason>`, with the commands it issued as a field."""

from __future__ import annotations

import logging

from application.saga_step import SagaOutcome
from application.telemetry import log
from domain.saga import SagaEvent, SagaStatus


def log_transitions(
    logger: logging.Logger, level: int, quote_id: str, outcome: SagaOutcome, cause: str
) -> None:
    """One line per saga event of `outcome` (at `level`); a DEBUG line when there was none.
    `cause` names what was fed to the saga (the domain event's type, or a time-out)."""
    if not outcome.events:
        if logger.isEnabledFor(logging.DEBUG):
            status = outcome.state.status
            log(logger, logging.DEBUG, f"saga unchanged by {cause}", correlationId=quote_id,
                sagaStatus=status.value if status else None)  # fmt: skip
        return
    if not logger.isEnabledFor(level):  # the lines cost more than the check
        return
    previous = outcome.before.status if outcome.before is not None else None
    for envelope, event in outcome.events:
        log(
            logger,
            level,
            _text(event, previous, redelivered=outcome.before is None),
            correlationId=quote_id,
            eventId=event.triggerId,
            sagaEvent=envelope.eventType,
            sagaStatus=event.status.value,
            step=event.step,
            reason=event.reason,
            commands=",".join(f"{c.commandType}:{c.commandId}" for c in event.commands) or None,
        )
        previous = event.status


def _text(event: SagaEvent, previous: SagaStatus | None, redelivered: bool) -> str:
    if redelivered:  # decided by an earlier delivery: only its commands go out again
        head = f"saga already {event.status.value} on {event.triggerType} (a redelivery)"
    else:
        before = previous.value if previous is not None else "new"
        step = f" at {event.step}" if event.step else ""
        head = f"saga {before} -> {event.status.value}{step} on {event.triggerType}"
    return f"{head}: {event.reason}" if event.reason else head
