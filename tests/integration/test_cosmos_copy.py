"""The copy from an old-layout events container (receipts, saga streams mixed in, no unique
key) into keyed events and sagas containers, against a Cosmos-protocol server.

The old container is made from what the current adapter wrote for real sagas (and for batches
whose causationId is not their command id): each document without its commandKey, plus the
receipt the old adapter wrote for the same append (`receipt_of`). The current documents are
then the oracle for what the copy must produce."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from azure.cosmos import ContainerProxy, PartitionKey

import bootstrap
from adapters.cosmos import CosmosDeadLetterStore, CosmosEventStore, CosmosViewStore
from adapters.cosmos_account import ensure_containers, require_command_key
from adapters.cosmos_copy import (
    SYSTEM_PROPERTIES,
    CopyConflict,
    PlanError,
    copy_events,
    open_targets,
    verify,
)
from adapters.memory import InMemoryCommandPublisher
from application.ports import Outcome
from bootstrap import Adapters, Services, Settings
from tests.integration.test_saga_on_cosmos import ChangeFeed
from tests.support.builders import ACCEPTED_PREMIUM, OVER_LIMIT_PREMIUM, batch, event
from tests.support.world import FakeClock

pytest_plugins = ["tests.support.cosmos_fixtures"]
pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SYSTEM = SYSTEM_PROPERTIES | {"_lsn"}
HAND_MADE = {"quote-multi", "quote-keyed"}  # builder batches: no domain event's data


def receipt_of(stream: str, command_id: str, version: int) -> dict[str, Any]:
    """The receipt the old adapter put in an append's batch (git show 7cb2a20^:adapters/cosmos.py:
    `version` is the batch's last sequence number)."""
    return {
        "id": f"receipt:{command_id}",
        "streamId": stream,
        "docType": "receipt",
        "commandId": command_id,
        "version": version,
    }


def everything(container: ContainerProxy) -> list[dict[str, Any]]:
    return list(container.query_items("SELECT * FROM c", enable_cross_partition_query=True))


def stripped(documents: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (d["streamId"], d["id"]): {k: v for k, v in d.items() if k not in SYSTEM} for d in documents
    }


@pytest.fixture(scope="module")
def current(cosmos_containers) -> dict[str, dict[tuple[str, str], dict[str, Any]]]:
    """What the current adapter wrote: three real sagas through the Functions entry points,
    and hand-made batches of several events whose causationId differs from the command id."""
    events, sagas = cosmos_containers["events"], cosmos_containers["sagas"]
    adapters = Adapters(
        store=CosmosEventStore(events),
        saga_store=CosmosEventStore(sagas),
        publisher=InMemoryCommandPublisher(),
        views=CosmosViewStore(cosmos_containers["views"]),
        dead_letters=CosmosDeadLetterStore(cosmos_containers["deadletters"]),
    )
    services = Services(Settings({"STORE_BACKEND": "cosmos"}), adapters, clock=FakeClock())
    previous = bootstrap.install(services)
    try:
        feed = ChangeFeed(services, events)
        for quote_id, premium in [("Q-happy", ACCEPTED_PREMIUM), ("Q-big", OVER_LIMIT_PREMIUM)]:
            services.quotes.create("C-1", premium, quote_id)
            services.quotes.approve(quote_id)
        feed.run_until_quiet()
    finally:
        bootstrap.install(previous)
    store = CosmosEventStore(events)
    store.append("quote-multi", 0, batch("quote-multi", 0, 3), "cmd-a")
    store.append("quote-multi", 3, batch("quote-multi", 3, 2), "cmd-b")
    store.append("quote-keyed", 0, batch("quote-keyed", 0, 2), "cmd-k")
    return {"events": stripped(everything(events)), "sagas": stripped(everything(sagas))}


@pytest.fixture(scope="module")
def old(cosmos_database, current) -> ContainerProxy:
    """The old layout: one container, no unique key, receipts; quote-keyed as the current
    adapter wrote it into an old container (keys, no receipts)."""
    container = cosmos_database.create_container(
        f"old-{uuid.uuid4().hex[:8]}", PartitionKey("/streamId")
    )
    batches: dict[tuple[str, str], int] = defaultdict(int)
    for documents in current.values():
        for (stream, _), document in documents.items():
            if stream == "quote-keyed":
                container.create_item(document)
                continue
            command_id, _ = document["commandKey"].rsplit(":", 1)
            key = (stream, command_id)
            batches[key] = max(batches[key], document["sequenceNumber"])
            container.create_item({k: v for k, v in document.items() if k != "commandKey"})
    for (stream, command_id), version in batches.items():
        container.create_item(receipt_of(stream, command_id, version))
    return container


@pytest.fixture
def targets(cosmos_client, cosmos_database, cosmos_containers) -> dict[str, ContainerProxy]:
    """Fresh keyed events and sagas targets, made as the tool makes them (--create-targets)."""
    names = {n: c.id for n, c in cosmos_containers.items()}
    suffix = uuid.uuid4().hex[:8]
    names.update(events=f"events-new-{suffix}", sagas=f"sagas-new-{suffix}")
    made = open_targets(cosmos_client, cosmos_database.id, names, create=True)
    yield made
    for container in made.values():
        cosmos_database.delete_container(container.id)


def quiet(_: str) -> None:
    pass


def report_total(old: ContainerProxy) -> int:
    """The documents a copy of `old` writes: all but the receipts."""
    return sum(1 for d in everything(old) if d["docType"] != "receipt")


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=env, capture_output=True, text=True, check=False)


def test_the_copy_gives_every_event_the_key_the_current_adapter_writes(old, targets, current):
    report = copy_events(old, targets, out=quiet)

    assert report.verified, report.problems
    assert stripped(everything(targets["events"])) == current["events"]
    assert stripped(everything(targets["sagas"])) == current["sagas"]
    assert report.written == len(current["events"]) + len(current["sagas"])
    receipts = sum(1 for d in everything(old) if d["docType"] == "receipt")
    assert len(report.plan.dropped) == receipts > 0


def test_saga_streams_land_in_the_sagas_target_and_domain_events_in_the_events_target(
    old, targets, current
):
    copy_events(old, targets, out=quiet)

    saga_streams = {s for s, _ in stripped(everything(targets["sagas"]))}
    event_streams = {s for s, _ in stripped(everything(targets["events"]))}
    assert saga_streams
    assert all(s.startswith("saga-") for s in saga_streams)
    assert event_streams
    assert not any(s.startswith("saga-") for s in event_streams)


def test_a_saga_events_key_is_the_id_of_the_domain_event_that_caused_it(old, targets, current):
    copy_events(old, targets, out=quiet)

    domain_ids = {d["eventId"] for d in current["events"].values()}
    for document in stripped(everything(targets["sagas"])).values():
        assert document["commandKey"].rsplit(":", 1)[0] in domain_ids | {document["causationId"]}
    started = [d for d in current["sagas"].values() if d["eventType"] == "SagaStarted"]
    assert started
    assert all(d["causationId"] in domain_ids for d in started)


def test_the_runner_appends_under_each_events_causation_id(current):
    """Why docs/cosmos.md can say `{causationId}:{n}`: the DecisionRunner passes one id to
    `append` and to every event's causationId (not the hand-made batches, not from it)."""
    real = [
        d
        for documents in current.values()
        for (stream, _), d in documents.items()
        if stream not in HAND_MADE
    ]
    assert len(real) > 10
    assert all(d["commandKey"].rsplit(":", 1)[0] == d["causationId"] for d in real)


def test_the_targets_pass_the_workers_unique_key_check(old, targets):
    copy_events(old, targets, out=quiet)

    for container in targets.values():
        require_command_key(container)  # raises on a container without the key


def test_a_redelivered_command_is_already_handled_on_the_copy(old, targets, current):
    copy_events(old, targets, out=quiet)

    for name, documents in current.items():
        store = CosmosEventStore(targets[name])
        last: dict[str, int] = defaultdict(int)
        for stream, _ in documents:
            last[stream] = max(last[stream], documents[stream, _]["sequenceNumber"])
        for document in documents.values():
            stream, command_id = document["streamId"], document["commandKey"].rsplit(":", 1)[0]
            # Redelivered after the stream moved on: only the copied key can tell.
            moved = [event(stream, last[stream] + 1, tag="again")]
            assert store.append(stream, last[stream], moved, command_id) is (
                Outcome.ALREADY_HANDLED
            ), document["id"]
    assert stripped(everything(targets["events"])) == current["events"]


def test_running_the_copy_again_changes_nothing(old, targets):
    copy_events(old, targets, out=quiet)
    before = {n: everything(c) for n, c in targets.items()}

    # Any create raises: what is there already is seen before one is tried.
    unwritable = {n: CrashAfter(c, [0]) for n, c in targets.items()}
    again = copy_events(old, unwritable, out=quiet)  # type: ignore[arg-type]

    assert again.verified
    assert (again.written, again.present) == (0, report_total(old))
    assert {n: everything(c) for n, c in targets.items()} == before  # etags and _ts too


class CrashAfter:
    """Target containers that die after `writes` creates between them, as a copy killed
    half-way."""

    def __init__(self, container: ContainerProxy, budget: list[int]) -> None:
        self._container, self._budget = container, budget

    def __getattr__(self, name: str) -> Any:
        return getattr(self._container, name)

    def create_item(self, body: dict[str, Any]) -> Any:
        if self._budget[0] == 0:
            raise KeyboardInterrupt("killed")
        self._budget[0] -= 1
        return self._container.create_item(body)


def test_a_copy_resumed_after_a_crash_ends_as_one_uninterrupted_copy(old, targets, current):
    budget = [4]
    crashing = {n: CrashAfter(c, budget) for n, c in targets.items()}
    with pytest.raises(KeyboardInterrupt):
        copy_events(old, crashing, out=quiet)  # type: ignore[arg-type]

    resumed = copy_events(old, targets, out=quiet)

    assert resumed.verified
    assert (resumed.present, resumed.written) == (4, report_total(old) - 4)
    assert stripped(everything(targets["events"])) == current["events"]
    assert stripped(everything(targets["sagas"])) == current["sagas"]


def test_a_dry_run_counts_per_kind_and_writes_nothing(old, targets, current):
    lines: list[str] = []

    report = copy_events(old, targets, dry_run=True, out=lines.append)

    assert [everything(c) for c in targets.values()] == [[], []]
    assert f"source {old.id}: saga-event: {len(current['sagas'])}" in lines
    assert f"source {old.id}: event: {len(current['events'])}" in lines
    assert f"would copy to sagas {targets['sagas'].id}: {len(current['sagas'])}" in lines
    assert report.written == 0


def test_the_script_copies_and_verifies_with_the_apps_settings(cosmos, cosmos_database, old):
    suffix = uuid.uuid4().hex[:8]
    env = {"CosmosDb": cosmos.connection_string, "COSMOS_DATABASE": cosmos_database.id}
    names = ["--events-target", f"ev-{suffix}", "--sagas-target", f"sg-{suffix}"]
    command = [sys.executable, str(ROOT / "scripts/copy_events.py"), "--source", old.id, *names]

    dry = run([*command, "--dry-run"], env)
    assert dry.returncode == 0, dry.stderr
    assert "dry run: nothing written" in dry.stdout
    existing = {c["id"] for c in cosmos_database.list_containers()}
    assert not {f"ev-{suffix}", f"sg-{suffix}"} & existing
    refused = run(command, env)
    assert refused.returncode == 2
    assert "--create-targets" in refused.stderr
    done = run([*command, "--create-targets"], env)

    assert done.returncode == 0, done.stderr
    assert "verified: every source document accounted for" in done.stdout
    for name in (f"ev-{suffix}", f"sg-{suffix}"):
        require_command_key(cosmos_database.get_container_client(name))
        cosmos_database.delete_container(name)


def test_ensure_containers_leaves_an_old_container_without_its_unique_key(
    cosmos_client, cosmos_database, old
):
    """Why the copy needs new targets: an existing container keeps its policy."""
    ensure_containers(cosmos_client, cosmos_database.id, {"events": old.id})
    with pytest.raises(ValueError, match="no unique key on /commandKey"):
        require_command_key(old)


def test_a_target_holding_another_document_under_a_copied_id_stops_the_copy(old, targets):
    first = next(d for d in everything(old) if d["docType"] == "event")
    other = {k: v for k, v in first.items() if k not in SYSTEM} | {"commandKey": "other:1"}
    targets["events"].create_item(other)

    with pytest.raises(CopyConflict, match=first["id"]):
        copy_events(old, targets, out=quiet)

    [kept] = stripped(everything(targets["events"])).values()
    assert kept == other


def test_a_target_holding_a_copied_key_under_another_id_stops_the_copy(old, targets, current):
    taken = next(iter(current["events"].values()))
    targets["events"].create_item({"id": "squatter", "streamId": taken["streamId"],
                                   "commandKey": taken["commandKey"]})  # fmt: skip

    with pytest.raises(CopyConflict, match="holds \\['squatter'\\]"):
        copy_events(old, targets, out=quiet)


def test_a_target_without_the_unique_key_fails_the_verification(cosmos_database, old, targets):
    unkeyed = cosmos_database.create_container(
        f"unkeyed-{uuid.uuid4().hex[:8]}", PartitionKey("/streamId")
    )
    try:
        report = copy_events(old, {**targets, "sagas": unkeyed}, out=quiet)
    finally:
        cosmos_database.delete_container(unkeyed.id)

    assert not report.verified
    assert any("no unique key on /commandKey" in p for p in report.problems)


class GrowingSource:
    """A source the app still writes to: a new event arrives between the plan and the copy."""

    def __init__(self, container: ContainerProxy) -> None:
        self._container, self._queries = container, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._container, name)

    def query_items(self, query: str, **options: Any) -> Any:
        self._queries += 1
        if self._queries == 2:
            self._container.create_item(event("quote-late", 1).to_document())
        return self._container.query_items(query, **options)


def test_a_document_written_to_the_source_during_the_copy_stops_it(cosmos_database, targets):
    source = cosmos_database.create_container(
        f"old-{uuid.uuid4().hex[:8]}", PartitionKey("/streamId")
    )
    source.create_item(event("quote-early", 1).to_document())
    try:
        with pytest.raises(PlanError, match="stop the app"):
            copy_events(GrowingSource(source), targets, out=quiet)  # type: ignore[arg-type]
    finally:
        cosmos_database.delete_container(source.id)


def test_the_verification_names_a_copied_document_gone_missing(old, targets, current):
    report = copy_events(old, targets, out=quiet)
    stream, document_id = next(iter(current["sagas"]))
    targets["sagas"].delete_item(document_id, partition_key=stream)

    problems, _ = verify(report.plan, targets)

    assert problems == [f"sagas: 1 missing, e.g. {(stream, document_id)}"]


def test_the_source_cannot_be_one_of_the_targets(old, targets):
    with pytest.raises(ValueError, match="cannot also be a target"):
        copy_events(old, {**targets, "events": old}, out=quiet)


def test_the_script_exits_non_zero_when_the_copy_is_not_verified(cosmos, cosmos_database, old):
    unkeyed = cosmos_database.create_container(
        f"unkeyed-{uuid.uuid4().hex[:8]}", PartitionKey("/streamId")
    )
    events = f"ev-{uuid.uuid4().hex[:8]}"
    env = {"CosmosDb": cosmos.connection_string, "COSMOS_DATABASE": cosmos_database.id}
    script = [sys.executable, str(ROOT / "scripts/copy_events.py"), "--create-targets"]
    targets = ["--source", old.id, "--events-target", events, "--sagas-target", unkeyed.id]
    try:
        result = run([*script, *targets], env)
    finally:
        for name in (unkeyed.id, events):
            cosmos_database.delete_container(name)

    assert result.returncode == 1
    assert "NOT verified" in result.stdout


class RealEventsFeed(ChangeFeed):
    def new_documents(self) -> list[dict]:
        return [d for d in super().new_documents() if d["streamId"] not in HAND_MADE]


class CountingPublisher(InMemoryCommandPublisher):
    def __init__(self) -> None:
        super().__init__()
        self.published = 0

    def publish(self, commands, events=()) -> None:
        self.published += len(commands)
        super().publish(commands, events)


def test_the_orchestrator_replaying_the_copy_from_the_beginning_appends_nothing(
    old, targets, current, cosmos_containers
):
    """What a new lease with start_from_beginning does after the switch (docs/cosmos.md): every
    copied domain event again, each batch twice, its re-published commands handled too."""
    copy_events(old, targets, out=quiet)
    views = CosmosViewStore(cosmos_containers["views"])
    statuses = {q: views.get(q).view.saga.status for q in ("Q-happy", "Q-big")}
    publisher = CountingPublisher()
    adapters = Adapters(
        store=CosmosEventStore(targets["events"]),
        saga_store=CosmosEventStore(targets["sagas"]),
        publisher=publisher,
        views=views,
        dead_letters=CosmosDeadLetterStore(cosmos_containers["deadletters"]),
    )
    services = Services(Settings({"STORE_BACKEND": "cosmos"}), adapters, clock=FakeClock())
    previous = bootstrap.install(services)
    try:
        feed = RealEventsFeed(services, targets["events"])
        feed.run_until_quiet()
    finally:
        bootstrap.install(previous)

    assert feed.doc_types == {"event"}
    assert publisher.published > 0  # the recorded commands again, and the events forwarded
    real = {d["eventId"] for (s, _), d in current["events"].items() if s not in HAND_MADE}
    assert {e.eventId for e in publisher.events} == real
    assert stripped(everything(targets["events"])) == current["events"]
    assert stripped(everything(targets["sagas"])) == current["sagas"]
    assert {q: views.get(q).view.saga.status for q in statuses} == statuses
    assert statuses == {"Q-happy": "Completed", "Q-big": "Compensated"}
    assert services.desk.list() == []


def test_a_copy_reading_two_documents_per_request_copies_the_same(old, targets, current):
    pages = old.query_items(
        "SELECT * FROM c", enable_cross_partition_query=True, max_item_count=2
    ).by_page()
    sizes = [len(list(page)) for page in pages]
    assert len(sizes) > 10  # the server pages a cross-partition query
    assert max(sizes) == 2

    report = copy_events(old, targets, page_size=2, out=quiet)

    assert report.verified
    assert stripped(everything(targets["events"])) == current["events"]
    assert stripped(everything(targets["sagas"])) == current["sagas"]


class BlindFirstLook:
    """A target whose first listing misses what a concurrent copy has just written."""

    def __init__(self, container: ContainerProxy) -> None:
        self._container, self._looked = container, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._container, name)

    def query_items(self, query: str, **options: Any) -> Any:
        if not self._looked and "commandKey FROM c" in query:
            self._looked = True
            return self._container.query_items("SELECT * FROM c WHERE false", **options)
        return self._container.query_items(query, **options)


def test_a_document_a_concurrent_copy_wrote_first_counts_as_copied(old, targets, current):
    copy_events(old, targets, out=quiet)
    before = {n: everything(c) for n, c in targets.items()}

    blind = {n: BlindFirstLook(c) for n, c in targets.items()}
    again = copy_events(old, blind, out=quiet)  # type: ignore[arg-type]

    assert again.verified
    assert (again.written, again.present) == (0, report_total(old))
    assert {n: everything(c) for n, c in targets.items()} == before
