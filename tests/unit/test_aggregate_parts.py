"""The registry's building blocks, beyond the three aggregates registered today (whose initial
states are all None and two of which take no rules)."""

from __future__ import annotations

import pytest

from domain import registry
from domain.aggregate import Aggregate, Decider, never, no_rules, without_rules

pytestmark = pytest.mark.unit


def counter() -> Aggregate[int, str, str, int]:
    """A toy aggregate: the state counts events; `rules` caps it."""
    return Aggregate(
        category="counter",
        target_field="counterId",
        commands={"Add": str},
        events={"Added": (str, 1)},
        initial_state=7,
        decide=lambda state, command, cap: [command] if state < cap else [],
        evolve=lambda state, _: state + 1,
        rules_from=lambda setting: int(setting("COUNTER_CAP")),
        settings={"COUNTER_CAP": "8"},
        creates=(str,),
    )


def test_a_decider_starts_from_the_aggregates_initial_state_with_its_rules_bound_in():
    decider = counter().decider(8)
    assert isinstance(decider, Decider)
    assert (decider.category, decider.initial_state) == ("counter", 7)
    assert list(decider.decide(7, "add")) == ["add"]
    assert list(decider.decide(8, "add")) == []  # at the cap the rules bound in refuse
    assert decider.starts("add")
    assert not decider.starts(3)  # type: ignore[arg-type]
    assert counter().default_rules() == 8


def test_without_rules_passes_state_and_command_through_and_ignores_the_rules():
    seen = without_rules(lambda state, command: [(state, command)])
    assert list(seen("S", "C", None)) == [("S", "C")]
    assert no_rules(lambda _: "unused") is None


def test_a_decider_of_no_opening_command_never_starts_a_stream():
    assert never("anything") is False


@pytest.mark.parametrize("names", [["a", "b", "a"], ["a", "a", "a", "b"]])
def test_a_name_registered_twice_is_refused_naming_it(names):
    with pytest.raises(ValueError, match=r"things registered twice: \['a'\]"):
        registry._unique(names, "things")


def test_distinct_names_are_accepted():
    registry._unique(["a", "b", "c"], "things")
