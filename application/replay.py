"""Replaying a dead letter once its cause is fixed: a command goes back to its hub, an event
back through the orchestrator. Replays are safe to repeat (everything downstream is
idempotent)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from pydantic import ValidationError

from application.orchestration import Orchestrator
from application.ports import CommandPublisher, DeadLetter, DeadLetterStore
from domain import codec
from domain.messages import CommandEnvelope, EventEnvelope


class ReplayRefused(Exception):
    """The letter still cannot be processed as it is (e.g. its payload does not parse)."""


class DeadLetterDesk:
    def __init__(
        self,
        store: DeadLetterStore,
        publisher: CommandPublisher,
        orchestrator: Orchestrator,
        clock: Callable[[], datetime],
    ) -> None:
        self.store, self.publisher, self.orchestrator, self.clock = (
            store,
            publisher,
            orchestrator,
            clock,
        )

    def list(self, limit: int = 100) -> list[DeadLetter]:
        return self.store.list(limit)

    def replay(self, letter_id: str) -> DeadLetter | None:
        """Replay one letter; None if there is no such letter."""
        letter = self.store.get(letter_id)
        if letter is None:
            return None
        try:
            if letter.source == "command":
                self.publisher.publish([CommandEnvelope.model_validate_json(letter.payload)])
            else:
                envelope = EventEnvelope.model_validate(json.loads(letter.payload))
                self.orchestrator.process_event(envelope, codec.decode(envelope))
        except (ValidationError, ValueError) as error:
            raise ReplayRefused(
                f"dead letter {letter_id} still cannot be processed: {error}"
            ) from error
        self.store.mark_replayed(letter_id, self.clock())
        return self.store.get(letter_id)
