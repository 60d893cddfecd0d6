"""Drives the real trigger entry points the way the host and worker do: host-shaped trigger
data decoded by azure-functions' own converters (devhost.payloads), never func.* built here."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import azure.functions as func

from bootstrap import Services
from devhost import payloads
from domain.messages import CommandEnvelope
from domain.registry import command_category
from tests.functions.conftest import InvocationContext
from triggers import command_handlers, orchestrator, timers

orchestrate = orchestrator.orchestrate.build().get_user_function()
HANDLERS = {
    category: trigger.build().get_user_function()
    for category, trigger in command_handlers.TRIGGERS.items()
}
expire_stuck_sagas = timers.expire_stuck_sagas.build().get_user_function()
_sequence = itertools.count(1)


def document_list(documents: list[dict]) -> func.DocumentList:
    """A change-feed batch as the orchestrator receives it."""
    decoded = payloads.decode("cosmosDBTrigger", payloads.cosmos_documents(documents))
    assert isinstance(decoded, func.DocumentList)
    return decoded


def hub_event(body: bytes, partition_key: str) -> payloads.HubEvent:
    number = next(_sequence)
    return payloads.HubEvent(
        body=body,
        partition_key=partition_key,
        sequence_number=number,
        offset=number * 100,
        enqueued_time=datetime.now(UTC),
        properties={},
    )


def hub_batch(events: Sequence[payloads.HubEvent], hub: str = "commands") -> list:
    """A `cardinality=MANY` batch as a command handler receives it."""
    host_data = payloads.event_hub_batch(events, hub, "$Default", "0")
    decoded = payloads.decode("eventHubTrigger", host_data)
    assert isinstance(decoded, list)
    return decoded


def timer_tick(past_due: bool = False) -> func.TimerRequest:
    """A timer occurrence as the timer trigger receives it."""
    now = datetime.now(UTC)
    host_data = payloads.timer(
        past_due, now - timedelta(minutes=1), now + timedelta(minutes=1), now
    )
    decoded = payloads.decode("timerTrigger", host_data)
    assert isinstance(decoded, func.TimerRequest)
    return decoded


class Driver:
    """Moves new events through the orchestrator and published commands through their hub's
    handler until nothing is left, delivering every batch `times` times."""

    def __init__(self, services: Services, times: int = 2) -> None:
        self.services, self.times, self.position = services, times, 0
        self.context = InvocationContext()

    def new_documents(self) -> list[dict]:
        fresh = self.services.adapters.store.read_all(self.position)  # type: ignore[attr-defined]
        if fresh:
            self.position = fresh[-1][0]
        return [envelope.to_document() for _, envelope in fresh]

    def run_until_quiet(self) -> None:
        for _ in range(100):
            documents = self.new_documents()
            commands = self.services.adapters.publisher.drain()  # type: ignore[attr-defined]
            if not documents and not commands:
                return
            for _ in range(self.times):
                if documents:
                    orchestrate(document_list(documents), self.context)
                self.deliver(commands)
        raise AssertionError("the saga did not settle in 100 rounds")

    def deliver(self, commands: list[CommandEnvelope]) -> None:
        by_hub: dict[str, list[payloads.HubEvent]] = defaultdict(list)
        for command in commands:
            body = command.model_dump_json().encode()
            by_hub[command_category(command.commandType)].append(
                hub_event(body, command.aggregateId)
            )
        for category, events in by_hub.items():
            HANDLERS[category](hub_batch(events, f"{category}-commands"), self.context)
