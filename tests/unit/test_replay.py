"""Replaying dead letters: a letter stays open until its message succeeds, a refusal on replay
is recorded on the same letter, and replaying a closed letter does nothing more."""

from __future__ import annotations

import pytest

from application.ports import TransientFailure
from application.replay import DeadLetterDesk, ReplayRefused
from domain.messages import RejectQuote
from domain.registry import make_command
from tests.support.builders import ACCEPTED_PREMIUM
from tests.support.world import World

pytestmark = pytest.mark.unit


class SwitchablePublisher:
    def __init__(self, inner) -> None:
        self.inner, self.error, self.calls = inner, None, 0

    def publish(self, commands, events=()):
        self.calls += 1
        if self.error is not None:
            raise self.error
        self.inner.publish(commands, events)


def desk_of(world: World) -> DeadLetterDesk:
    return DeadLetterDesk(world.dead_letters, world.commands, world.orchestrator, world.clock)


def parked_approval(world: World) -> tuple[SwitchablePublisher, str]:
    """Q1 approved, its QuoteApproved parked after the publish failed on the last attempt."""
    world.quotes.create("C1", ACCEPTED_PREMIUM, "Q1")
    world.quotes.approve("Q1")
    publisher = SwitchablePublisher(world.publisher)
    publisher.error = TransientFailure("hub unavailable")
    world.orchestrator.publisher = publisher
    documents = [e.to_document() for _, e in world.store.read_all() if e.sequenceNumber == 2]
    world.orchestrator.process_documents(documents, final_attempt=True)
    [letter] = world.dead_letters.list()
    return publisher, letter.id


def test_a_parked_event_replayed_once_fixed_publishes_its_commands_and_closes_the_letter():
    world = World()
    publisher, letter_id = parked_approval(world)
    publisher.error = None  # the hub is back
    letter = desk_of(world).replay(letter_id)
    assert letter is not None
    assert letter.replayedAt is not None
    [create_policy] = world.publisher.commands
    assert create_policy.commandType == "CreatePolicy"
    assert [e.eventType for e in world.publisher.events] == ["QuoteApproved"]
    calls = publisher.calls
    assert desk_of(world).replay(letter_id) == letter  # closed: nothing is done again
    assert (publisher.calls, len(world.publisher.commands)) == (calls, 1)


def test_a_replay_that_fails_transiently_raises_and_leaves_the_letter_as_it_was():
    world = World()
    _, letter_id = parked_approval(world)  # the hub is still down
    before = world.dead_letters.get(letter_id)
    with pytest.raises(TransientFailure):
        desk_of(world).replay(letter_id)
    assert world.dead_letters.get(letter_id) == before


def test_a_replay_still_refused_records_the_new_reason_on_the_open_letter():
    world = World()
    rejected = make_command(
        RejectQuote(quoteId="Q9", reason="r"),
        command_id="reject-Q9",
        correlation_id="Q9",
        causation_id="t",
        issued_at=world.clock(),
    )
    world.inbox.receive([rejected.model_dump_json()])
    [parked] = world.dead_letters.list()
    with pytest.raises(ReplayRefused) as refused:
        desk_of(world).replay(parked.id)
    assert (refused.value.letter_id, refused.value.reason) == (parked.id, "quote Q9 does not exist")
    assert (
        str(refused.value)
        == f"dead letter {parked.id} is still unprocessable: quote Q9 does not exist"
    )
    letter = world.dead_letters.get(parked.id)
    assert letter is not None
    assert letter.replayedAt is None
    assert letter.reason == (
        f"refused again on replay at {world.clock.now.isoformat()}: quote Q9 does not exist"
    )
    assert world.dead_letters.list() == [letter]


def test_replaying_an_unknown_letter_finds_none():
    assert desk_of(World()).replay("L404") is None


def test_the_desk_lists_the_most_recent_hundred_letters_unless_asked_for_another_number():
    world = World()
    world.inbox.receive([f"not a command {i}" for i in range(101)])
    assert len(desk_of(world).list()) == 100
    assert len(desk_of(world).list(101)) == 101
