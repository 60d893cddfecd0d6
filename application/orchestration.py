"""The orchestrator: each new domain event advances its saga, whose commands are published,
the event forwarded to outside subscribers, and the quote's read model brought up to date."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from application.dead_letters import park
from application.ports import (
    CommandPublisher,
    ConcurrencyConflict,
    DeadLetterStore,
    TransientFailure,
    ViewStore,
)
from application.saga_step import SagaOutcome, SagaStep, saga_event
from application.telemetry import log
from application.views import apply_event, apply_saga, empty_view
from domain import codec, saga
from domain.messages import CommandEnvelope, EventEnvelope

logger = logging.getLogger("quoting.orchestrator")


@dataclass
class BatchReport:
    processed: int = 0
    skipped: int = 0
    dead_lettered: int = 0


class Orchestrator:
    def __init__(
        self,
        saga_step: SagaStep,
        publisher: CommandPublisher,
        views: ViewStore,
        dead_letters: DeadLetterStore,
        clock: Callable[[], datetime],
        origin: str = "events",
    ) -> None:
        self.saga, self.publisher, self.views = saga_step, publisher, views
        self.dead_letters, self.clock, self.origin = dead_letters, clock, origin

    def process_documents(
        self, documents: Sequence[Mapping[str, Any]], final_attempt: bool = False
    ) -> BatchReport:
        """Process a change-feed batch in order, then publish what it decided in one call (so
        the publisher sends one batch per hub and key, not one per event). Poison documents
        are parked at once; a transient failure raises after the rest of the batch was tried
        (the trigger retries, and what succeeded is idempotent: a redelivered event's saga
        step returns the commands it recorded), or is parked too on the final attempt."""
        report, failures = BatchReport(), []
        commands: list[CommandEnvelope] = []
        decided: list[tuple[Mapping[str, Any], EventEnvelope]] = []
        for document in documents:
            if document.get("docType") != "event":
                report.skipped += 1  # receipts, saga streams: not domain events
                continue
            try:
                envelope = EventEnvelope.model_validate(document)
                commands += self.advance(envelope, codec.decode(envelope)).commands
                decided.append((document, envelope))
                report.processed += 1
            except (ValidationError, ValueError) as error:
                self._park(document, f"unprocessable document: {error}")
                report.dead_lettered += 1
            except Exception as error:
                if not final_attempt:
                    failures.append(error)
                    continue
                self._park(document, f"failed after the last retry: {error!r}")
                report.dead_lettered += 1
        try:
            self.publisher.publish(commands, [envelope for _, envelope in decided])
        except Exception as error:
            if not final_attempt:
                raise
            for document, _ in decided:  # replaying one re-publishes what its step recorded
                self._park(document, f"publishing failed after the last retry: {error!r}")
            report.processed -= len(decided)
            report.dead_lettered += len(decided)
        if failures:
            raise TransientFailure(f"{len(failures)} event(s) failed, first: {failures[0]!r}")
        return report

    def process_event(self, envelope: EventEnvelope, event: codec.StoredEvent) -> SagaOutcome:
        """Advance the event's saga and publish its commands and the event at once."""
        outcome = self.advance(envelope, event)
        self.publisher.publish(outcome.commands, [envelope])
        return outcome

    def advance(self, envelope: EventEnvelope, event: codec.StoredEvent) -> SagaOutcome:
        """Advance the event's saga and project both into the quote's view; the caller
        publishes the outcome's commands and forwards the event."""
        if isinstance(event, saga.SagaEvent):
            raise ValueError(f"{envelope.eventType} is a saga event, not a domain event")
        inp = saga.SagaInput(
            envelope.eventId,
            envelope.timestamp,
            envelope.correlationId,
            event,
            envelope.traceparent,
        )
        outcome = self.saga.advance(inp)
        self._project(envelope.correlationId, [(envelope, event)], outcome)
        if logger.isEnabledFor(logging.INFO):  # the line costs more than a disabled check
            log(
                logger,
                logging.INFO,
                f"saga advanced on {envelope.eventType}",
                correlationId=envelope.correlationId,
                eventId=envelope.eventId,
                sagaStatus=outcome.state.status,
                commands=",".join(f"{c.commandType}:{c.commandId}" for c in outcome.commands)
                or None,
            )
        return outcome

    def expire(self, now: datetime) -> int:
        """Feed every saga whose step deadline passed a time-out; returns how many."""
        count = 0
        for view in self.views.due(now):
            deadline = datetime.fromisoformat(view["saga"]["deadline"])
            inp = saga.timeout_input(view["id"], view["saga"]["step"], deadline, now)
            outcome = self.saga.advance(inp)
            self.publisher.publish(outcome.commands)
            self._project(view["id"], [], outcome)
            log(
                logger,
                logging.WARNING,
                f"saga step {view['saga']['step']} timed out",
                correlationId=view["id"],
                sagaStatus=outcome.state.status,
            )
            count += 1
        return count

    def _project(
        self,
        quote_id: str,
        events: Iterable[tuple[EventEnvelope, object]],
        outcome: SagaOutcome,
    ) -> None:
        entries = [*events, *((e, saga_event(e)) for e in outcome.events)]
        for _ in range(8):
            current = self.views.get(quote_id)
            view = current.document if current else empty_view(quote_id)
            updated = view
            for envelope, event in entries:
                updated = apply_event(updated, envelope, event)
            updated = apply_saga(updated, outcome.state, outcome.version)
            if current is not None and updated == view:
                return
            try:
                self.views.save(updated, current.etag if current else None)
                return
            except ConcurrencyConflict:
                continue
        raise ConcurrencyConflict(f"view {quote_id} kept changing under the orchestrator")

    def _park(self, document: Mapping[str, Any], reason: str) -> None:
        payload = json.dumps(document, sort_keys=True, default=str)
        correlation = document.get("correlationId")
        park(
            self.dead_letters,
            self.clock,
            "event",
            self.origin,
            payload,
            reason,
            correlation if isinstance(correlation, str) else None,
        )
        log(
            logger,
            logging.ERROR,
            f"dead-lettered a document: {reason}",
            correlationId=correlation,
            documentId=document.get("id"),
        )
