"""Replaying a dead letter once its cause is fixed: a command is handled again (here, so the
caller learns whether it is still refused), an event goes through the orchestrator again.

A letter stays open until its message succeeds: a message still refused keeps its letter, with
the new reason recorded on it. Replaying is safe to repeat (everything downstream is
idempotent, and a closed letter is not replayed again).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from application.commands import CommandHandler
from application.dead_letters import MAX_REASON
from application.orchestration import Orchestrator
from application.ports import DeadLetter, DeadLetterStore, LetterState
from domain import codec
from domain.errors import Unprocessable
from domain.messages import parse_command


class ReplayRefused(Exception):
    """The letter's message still cannot be processed; the reason is recorded on the letter."""

    def __init__(self, letter_id: str, reason: str) -> None:
        super().__init__(f"dead letter {letter_id} is still unprocessable: {reason}")
        self.letter_id, self.reason = letter_id, reason


class DeadLetterDesk:
    def __init__(
        self,
        store: DeadLetterStore,
        commands: CommandHandler,
        orchestrator: Orchestrator,
        clock: Callable[[], datetime],
    ) -> None:
        self.store, self.commands, self.orchestrator, self.clock = (
            store,
            commands,
            orchestrator,
            clock,
        )

    def list(
        self,
        limit: int = 100,
        correlation_id: str | None = None,
        state: LetterState | None = None,
    ) -> list[DeadLetter]:
        return self.store.list(limit, correlation_id, state)

    def replay(self, letter_id: str) -> DeadLetter | None:
        """Replay one letter and close it; None if there is no such letter, the letter as it
        is if it was closed before. ReplayRefused if its message is still Unprocessable; any
        other failure (transient or not) propagates and leaves the letter as it was."""
        letter = self.store.get(letter_id)
        if letter is None or letter.replayedAt is not None:
            return letter
        try:
            self._redeliver(letter)
        except Unprocessable as error:
            reason = f"refused again on replay at {self.clock().isoformat()}: {error}"
            self.store.update_reason(letter_id, reason[:MAX_REASON])
            raise ReplayRefused(letter_id, str(error)) from error
        self.store.mark_replayed(letter_id, self.clock())
        return self.store.get(letter_id)

    def _redeliver(self, letter: DeadLetter) -> None:
        if letter.source == "command":
            self.commands.handle(parse_command(letter.payload))
        else:
            envelope = codec.parse_event(letter.payload)
            self.orchestrator.process_event(envelope, codec.decode(envelope))
