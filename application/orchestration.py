"""The orchestrator: each new domain event advances its saga, whose commands are published,
the event forwarded to outside subscribers, and the quote's read model brought up to date."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import Any

from application.batches import BatchPolicy, BatchReport
from application.dead_letters import park
from application.ports import (
    CommandPublisher,
    ConcurrencyConflict,
    DeadLetterStore,
    ViewStore,
)
from application.saga_log import log_transitions
from application.saga_step import SagaOutcome, SagaStep, saga_event
from application.telemetry import log
from application.views import apply_event, apply_saga, empty_view
from domain import codec, saga
from domain.errors import Unprocessable
from domain.messages import EventEnvelope

logger = logging.getLogger("quoting.orchestrator")

Document = Mapping[str, Any]
Decided = tuple[Document, EventEnvelope, SagaOutcome]


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
        self, documents: Sequence[Document], final_attempt: bool = False
    ) -> BatchReport:
        """Process a change-feed batch in order, then publish what it decided in one call (so
        the publisher sends one batch per hub and key, not one per event), under the batch
        policy (application/batches.py). A redelivered event is idempotent: its saga step
        returns the commands it recorded, so retrying the batch re-publishes them."""
        batch = BatchPolicy(final_attempt, self._park, _ids, logger)
        decided: list[Decided] = []
        for document in documents:
            if document.get("docType") != "event":
                batch.report.skipped += 1  # receipts, saga streams: not domain events
                continue
            step = batch.attempt(document, self._decide)
            if step is not None:
                decided.append((document, *step))
        self._publish(batch, decided)
        return batch.done()

    def _decide(self, document: Document) -> tuple[EventEnvelope, SagaOutcome]:
        envelope = codec.read_event(document)
        return envelope, self.advance(envelope, codec.decode(envelope))

    def _publish(self, batch: BatchPolicy[Document], decided: list[Decided]) -> None:
        try:
            self.publisher.publish(
                [c for _, _, outcome in decided for c in outcome.commands],
                [envelope for _, envelope, _ in decided],
            )
            return
        except Unprocessable:
            pass  # one of them can never be sent, and nothing was: find it, send the rest
        except Exception as error:
            if not batch.final_attempt:
                raise
            for document, _, _ in decided:  # replaying one re-publishes what its step recorded
                batch.park(document, f"publishing failed after the last retry: {error!r}")
            batch.report.processed -= len(decided)
            return
        batch.report.processed -= len(decided)
        for document, envelope, outcome in decided:
            batch.attempt(document, partial(self._publish_one, envelope, outcome))

    def _publish_one(self, envelope: EventEnvelope, outcome: SagaOutcome, _: Document) -> None:
        self.publisher.publish(outcome.commands, [envelope])

    def process_event(self, envelope: EventEnvelope, event: codec.StoredEvent) -> SagaOutcome:
        """Advance the event's saga and publish its commands and the event at once."""
        outcome = self.advance(envelope, event)
        self.publisher.publish(outcome.commands, [envelope])
        return outcome

    def advance(self, envelope: EventEnvelope, event: codec.StoredEvent) -> SagaOutcome:
        """Advance the event's saga and project both into the quote's view; the caller
        publishes the outcome's commands and forwards the event."""
        if isinstance(event, saga.SagaEvent):
            raise Unprocessable(f"{envelope.eventType} is a saga event, not a domain event")
        inp = saga.SagaInput(
            envelope.eventId,
            envelope.timestamp,
            envelope.correlationId,
            event,
            envelope.traceparent,
        )
        outcome = self.saga.advance(inp)
        self._project(envelope.correlationId, [(envelope, event)], outcome)
        log_transitions(logger, logging.INFO, envelope.correlationId, outcome, envelope.eventType)
        return outcome

    def expire(self, now: datetime) -> int:
        """Feed every saga whose step deadline passed a time-out; returns how many."""
        count = 0
        for view in self.views.due(now):
            due = view.saga
            if due is None or due.deadline is None or due.step is None:
                continue  # never: due() returns sagas waiting on a step, with its deadline
            inp = saga.timeout_input(view.id, due.step, due.deadline, now)
            try:
                outcome = self.saga.advance(inp)
            except Unprocessable as error:
                # A saga that can never be timed out (its stream contradicts itself) must not
                # hold back the sagas due after it; it stays due, so every tick reports it.
                log(
                    logger,
                    logging.ERROR,
                    f"saga cannot time out: {error}",
                    correlationId=view.id,
                )
                continue
            self.publisher.publish(outcome.commands)
            self._project(view.id, [], outcome)
            log_transitions(logger, logging.WARNING, view.id, outcome, "StepTimedOut")
            count += 1
        return count

    def cancel(
        self, quote_id: str, reason: str, requested_by: str, traceparent: str | None = None
    ) -> SagaOutcome:
        """An operator cancels a running saga: it compensates what it did, as a time-out of
        its step would, and the commands go out now. Asking again, or while it compensates,
        decides nothing new (a repeat re-sends what the first decided, same ids); a saga not
        started or ended is refused (DomainError: not-found, conflict)."""
        inp = saga.cancel_input(quote_id, reason, requested_by, self.clock(), traceparent)
        outcome = self.saga.advance(inp)
        self.publisher.publish(outcome.commands)
        self._project(quote_id, [], outcome)
        log(
            logger,
            logging.WARNING,
            f"saga cancel requested by {requested_by!r}: {reason!r}",
            correlationId=quote_id,
            sagaStatus=outcome.state.status,
            commands=",".join(c.commandType for c in outcome.commands) or None,
        )
        return outcome

    def _project(
        self,
        quote_id: str,
        events: Iterable[tuple[EventEnvelope, object]],
        outcome: SagaOutcome,
    ) -> None:
        entries = [*events, *((e, saga_event(e)) for e in outcome.events)]
        for _ in range(8):
            current = self.views.get(quote_id)
            view = current.view if current else empty_view(quote_id)
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

    def _park(self, document: Document, reason: str) -> None:
        payload = json.dumps(document, sort_keys=True, default=str)
        event_id, correlation = document.get("eventId"), document.get("correlationId")
        park(
            self.dead_letters,
            self.clock,
            "event",
            self.origin,
            payload.encode(),
            reason,
            message_id=event_id if isinstance(event_id, str) else None,
            correlation_id=correlation if isinstance(correlation, str) else None,
        )
        log(logger, logging.ERROR, f"dead-lettered a document: {reason}", **_ids(document))


def _ids(document: Document) -> dict[str, object]:
    return {"correlationId": document.get("correlationId"), "documentId": document.get("id")}
