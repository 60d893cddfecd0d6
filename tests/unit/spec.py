"""given(events).when(command).then(events): the decider tests' one vocabulary."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Any

from domain.errors import DomainError


@dataclass(frozen=True)
class DeciderSpec:
    initial_state: Any
    decide: Callable[..., Sequence[Any]]
    evolve: Callable[[Any, Any], Any]

    def given(self, *events: Any) -> _When:
        return _When(self, reduce(self.evolve, events, self.initial_state))


@dataclass(frozen=True)
class _When:
    spec: DeciderSpec
    state: Any

    def when(self, command: Any, **rules: Any) -> _Then:
        try:
            return _Then(list(self.spec.decide(self.state, command, **rules)), None)
        except DomainError as error:
            return _Then(None, error)


@dataclass(frozen=True)
class _Then:
    events: list[Any] | None
    error: DomainError | None

    def then(self, *expected: Any) -> list[Any]:
        assert self.error is None, f"refused: {self.error}"
        assert self.events == list(expected)
        return self.events

    def then_refused(self, kind: str, match: str = "") -> DomainError:
        assert self.error is not None, f"not refused; decided {self.events}"
        assert self.error.kind == kind
        if match:
            assert match in self.error.detail
        return self.error
