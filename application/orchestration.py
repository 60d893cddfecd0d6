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
from application.ports import CommandPublisher, DeadLetterStore, ViewStore
from application.projection import Step, ViewWriter
from application.saga_log import log_transitions
from application.saga_step import SagaOutcome, SagaStep
from application.telemetry import log
from domain import codec, saga
from domain.errors import Unprocessable
from domain.messages import EventEnvelope

logger = logging.getLogger("quoting.orchestrator")

Document = Mapping[str, Any]
Decided = tuple[Document, EventEnvelope, SagaOutcome]
Projected = tuple[EventEnvelope, SagaOutcome, Step]


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
        self._writer = ViewWriter()  # this worker's last written views: no read before a write

    def process_documents(
        self, documents: Sequence[Document], final_attempt: bool = False
    ) -> BatchReport:
        """Process a change-feed batch in order, write each quote's view once, then publish
        what the batch decided in one call (so the publisher sends one batch per hub and key,
        not one per event), under the batch policy (application/batches.py). A redelivered
        event is idempotent: its saga step returns the commands it recorded, so retrying the
        batch re-publishes them."""
        batch = BatchPolicy(final_attempt, self._park, _ids, logger)
        stepped: list[tuple[Document, Projected]] = []
        for document in documents:
            if document.get("docType") != "event":
                batch.report.skipped += 1  # receipts, saga streams: not domain events
                continue
            step = batch.attempt(document, self._decide)
            if step is not None:
                stepped.append((document, step))
        by_quote: dict[str, list[tuple[Document, Projected]]] = {}
        for document, step in stepped:
            by_quote.setdefault(step[0].correlationId, []).append((document, step))
        written = {q for q, steps in by_quote.items() if self._project_batch(batch, q, steps)}
        decided = [(d, e, o) for d, (e, o, _) in stepped if e.correlationId in written]
        self._publish(batch, decided)
        return batch.done()

    def _decide(self, document: Document) -> Projected:
        envelope = codec.read_event(document)
        event = codec.decode(envelope)
        outcome = self._step(envelope, event)
        return envelope, outcome, ([(envelope, event)], outcome)

    def _project_batch(
        self, batch: BatchPolicy[Document], quote_id: str, steps: list[tuple[Document, Projected]]
    ) -> bool:
        """One view write for the quote's steps in this batch; if it fails, every one of its
        documents fails with it (retried with the batch, or parked on the last attempt, each
        replayable: a replay re-projects its step), and none of them is published now."""
        try:
            self._writer.write(self.views, quote_id, [step for _, (_, _, step) in steps])
            return True
        except Exception as error:
            batch.report.processed -= len(steps)
            for document, _ in steps:
                batch.fail(document, error)
            return False

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
        outcome = self._step(envelope, event)
        self._project(envelope.correlationId, [(envelope, event)], outcome)
        return outcome

    def _step(self, envelope: EventEnvelope, event: codec.StoredEvent) -> SagaOutcome:
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
        its step would, and the commands go out now. Asking again, while it compensates or
        once that has ended, decides nothing new (a repeat re-sends what the first decided,
        same ids); a saga not started, or ended without a cancel, is refused (DomainError:
        not-found, conflict)."""
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
        self._writer.write(self.views, quote_id, [(list(events), outcome)])

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
