"""`python -m devhost cost [--sagas N]`: what a saga costs in Cosmos DB, counted.

Runs N sagas of each outcome (completed; premium over the underwriting limit; customer at the
policy limit) through the Functions entry points (the HTTP functions for create and approve,
the orchestrator with the events container's change feed, the Event Hubs command handlers with
the published commands, all with host-shaped payloads: devhost/payloads.py) over the Cosmos DB
adapters against the Cosmos-protocol server, counting every HTTP request at the SDK transport.
Warm: one worker's services for the whole run. Cold: fresh services for every invocation
(the SDK client stays connected; its metadata reads are counted apart). The RU model and the
table: devhost/cost_report.py.
"""

from __future__ import annotations

import functools
import json
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import azure.functions as func

import bootstrap
from adapters import cosmos_account
from adapters.eventhubs import route
from adapters.memory import InMemoryCommandPublisher
from bootstrap import COSMOS_CONNECTION, Adapters, Services, Settings, rules_from
from devhost import payloads
from devhost.cosmos_local import EMULATOR_KEY, ChangeFeedPull, CountingTransport, local_server
from devhost.cost_report import Tally, render
from domain.messages import CommandEnvelope, EventEnvelope
from domain.registry import CUSTOMER, POLICY, command_category, command_hubs


class CountingPublisher(InMemoryCommandPublisher):
    """In memory, counting what EventHubsCommandPublisher would send: one batch per hub and
    partition key of each publish (adapters/eventhubs.route), every message in it."""

    def __init__(self, hubs: dict[str, str], saga_events_hub: str) -> None:
        super().__init__()
        self._hubs, self._saga_events_hub = hubs, saga_events_hub
        self.sends = self.messages = 0

    def publish(
        self, commands: Sequence[CommandEnvelope], events: Sequence[EventEnvelope] = ()
    ) -> None:
        groups = route(commands, events, self._hubs, self._saga_events_hub)
        self.sends += len(groups)
        self.messages += sum(len(messages) for messages in groups.values())
        super().publish(commands, events)


class StepClock:
    """Every reading one millisecond and one microsecond later: deterministic times whose
    texts keep one width (isoformat drops a zero fraction), so document sizes repeat."""

    def __init__(self) -> None:
        self.now, self._lock = datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=UTC), threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            self.now += timedelta(microseconds=1001)
            return self.now


class Worker:
    """The app's functions over one set of adapters, warm (one Services) or cold (new
    Services per invocation), with a change-feed reader playing the trigger."""

    def __init__(
        self, adapters: Adapters, settings: Settings, feed: ChangeFeedPull, cold: bool
    ) -> None:
        self.adapters, self.settings, self.feed, self.cold = adapters, settings, feed, cold
        self.functions = app_functions()
        self.clock, self._ids = StepClock(), iter(range(1, 10**9))
        self.services = self._services()
        self.tally = Tally()

    def _services(self) -> Services:
        return Services(
            self.settings, self.adapters, clock=self.clock, new_id=lambda: f"{next(self._ids):036}"
        )

    def invoke(self, name: str, *arguments: object) -> Any:
        """Call one function as the worker does; a cold worker builds its services anew."""
        if self.cold:
            self.services = self._services()
        bootstrap.install(self.services)
        self.tally.invocations[name] += 1
        return self.functions[name](*arguments)

    def http(self, name: str, method: str, path: str, body: object, route: dict[str, str]) -> None:
        request = func.HttpRequest(
            method,
            f"http://localhost:7071{path}",
            headers={"Content-Type": "application/json"},
            params={},
            route_params=route,
            body=json.dumps(body).encode() if body is not None else b"",
        )
        response = self.invoke(name, request)
        if response.status_code >= 300:
            raise RuntimeError(f"{method} {path} answered {response.status_code}")

    def saga(self, quote_id: str, customer_id: str, premium: Decimal, feed: str) -> None:
        body = {"quoteId": quote_id, "customerId": customer_id, "premium": str(premium)}
        self.http("create_quote", "POST", "/api/quotes", body, {})
        self.http("approve_quote", "POST", f"/api/quotes/{quote_id}/approve", None,
                  {"quoteId": quote_id})  # fmt: skip
        self.run_until_quiet(feed)

    def run_until_quiet(self, feed: str) -> None:
        for _ in range(100):
            documents = self.new_documents()
            commands = self.adapters.publisher.drain()  # type: ignore[attr-defined]
            if not documents and not commands:
                return
            batches = [[d] for d in documents] if feed == "each" else [documents] * bool(documents)
            for batch in batches:
                self.invoke("orchestrate", _documents(batch), _Context("orchestrate"))
            self.deliver(commands)
        raise RuntimeError("the sagas did not settle in 100 rounds")

    def new_documents(self) -> list[dict[str, Any]]:
        documents = self.feed.new_documents()
        self.tally.feed_documents += len(documents)
        self.tally.feed_bytes += sum(len(json.dumps(d).encode()) for d in documents)
        return documents

    def deliver(self, commands: list[CommandEnvelope]) -> None:
        by_hub: dict[str, list[payloads.HubEvent]] = defaultdict(list)
        for number, command in enumerate(commands, start=1):
            body = command.model_dump_json().encode()
            event = payloads.HubEvent(body, command.aggregateId, number, number * 100,
                                      self.clock(), {})  # fmt: skip
            by_hub[command_category(command.commandType)].append(event)
        for category, events in by_hub.items():
            host_data = payloads.event_hub_batch(events, f"{category}-commands", "$Default", "0")
            name = f"handle_{category}_commands"
            self.invoke(name, payloads.decode("eventHubTrigger", host_data), _Context(name))


@functools.cache
def app_functions() -> dict[str, Callable[..., Any]]:
    """The functions a saga passes through, built from their blueprints' builders as the
    app registers them (app.get_functions() may run once per process: a second call refuses
    the names the first registered, and the tests' own fixture makes that call)."""
    from triggers import command_handlers, http_api, orchestrator

    builders = {
        "create_quote": http_api.create_quote,
        "approve_quote": http_api.approve_quote,
        "orchestrate": orchestrator.orchestrate,
        **{
            command_handlers.function_name(category): trigger
            for category, trigger in command_handlers.TRIGGERS.items()
        },
    }
    return {name: builder.build().get_user_function() for name, builder in builders.items()}


class _Context:
    """The attributes of func.Context the app reads (a first attempt)."""

    def __init__(self, name: str) -> None:
        self.function_name, self.invocation_id = name, f"{name}-0"
        self.retry_context = _Retry()
        self.trace_context = self.thread_local_storage = None
        self.function_directory = "."


class _Retry:
    retry_count, max_retry_count, exception = 0, 5, None


def _documents(documents: list[dict[str, Any]]) -> object:
    return payloads.decode("cosmosDBTrigger", payloads.cosmos_documents(documents))


@contextmanager
def cosmos_worker(
    connection: str, database: str, cold: bool
) -> Iterator[tuple[Worker, CountingTransport]]:
    """A worker over STORE_BACKEND=cosmos (stores from the app's own settings) and a counting
    publisher; the change feed is read by a client of its own, outside the count."""
    values = {
        "STORE_BACKEND": "cosmos",
        "PUBLISHER_BACKEND": "memory",
        COSMOS_CONNECTION: connection,
        "COSMOS_DATABASE": database,
        "COSMOS_ENSURE_CONTAINERS": "true",
    }
    settings = Settings(values)
    transport = CountingTransport()
    stores = cosmos_account.stores_from_settings(
        settings.get, COSMOS_CONNECTION, transport=transport
    )
    publisher = CountingPublisher(command_hubs(settings.__getitem__), settings["SAGA_EVENTS_HUB"])
    adapters = Adapters(publisher=publisher, **stores)
    reader = cosmos_account.create_cosmos_client(settings.get, COSMOS_CONNECTION)
    feed = reader.get_database_client(database).get_container_client(settings["EVENTS_CONTAINER"])
    previous = bootstrap.install(None)
    try:
        yield Worker(adapters, settings, ChangeFeedPull(feed), cold), transport
    finally:
        bootstrap.install(previous)
        reader.delete_database(database)  # a database of its own, also on a real account


def measure(
    connection: str, sagas: int, cold: bool, feed: str = "each", ids: str = "short"
) -> dict[str, Tally]:
    """N sagas of every outcome, one after the other, each counted on its own, in a database
    of their own (`connection`: a Cosmos DB connection string). `ids` "uuid" gives every quote
    and customer a uuid's length, as the API's generated ids have: document sizes, and so the
    RU estimate, grow with them."""
    name = _uuid_ids if ids == "uuid" else str
    rules = rules_from(Settings({}))
    limit = rules.of(POLICY).premium_limit
    full = rules.of(CUSTOMER).max_active_policies
    accepted, over = Decimal("100.00"), (limit * Decimal("2.5")).quantize(Decimal("0.01"))
    mode = "cold" if cold else "warm"
    tallies: dict[str, Tally] = {}
    database = f"cost-{mode}-{feed}-{uuid.uuid4().hex[:8]}"
    with cosmos_worker(connection, database, cold) as (worker, transport):
        for n in range(full):  # a customer at the policy limit, before counting
            worker.saga(name(f"QFULL{n:04}"), name("CFULL"), accepted, feed)
        worker.saga(name("QWARM"), name("CWARM"), accepted, feed)  # the client's metadata reads
        plans: dict[str, Callable[[int], tuple[str, str, Decimal]]] = {
            "completed": lambda i: (name(f"QDONE{i:06}"), name(f"CDONE{i:06}"), accepted),
            "over-limit": lambda i: (name(f"QOVER{i:06}"), name(f"COVER{i:06}"), over),
            "policy-limit": lambda i: (name(f"QFULL{i:06}"), name("CFULL"), accepted),
        }
        for outcome, plan in plans.items():
            worker.tally = tally = Tally(sagas=sagas)
            publisher: CountingPublisher = worker.adapters.publisher  # type: ignore[assignment]
            sends, messages = publisher.sends, publisher.messages
            with transport.recording() as sent:
                for i in range(sagas):
                    worker.saga(*plan(i), feed)
            tally.requests = sent
            tally.sends, tally.messages = publisher.sends - sends, publisher.messages - messages
            tallies[outcome] = tally
            _check(worker, outcome, [plan(i)[0] for i in range(sagas)])
    return tallies


EXPECTED = {"completed": "Completed", "over-limit": "Compensated", "policy-limit": "Compensated"}


def _check(worker: Worker, outcome: str, quote_ids: list[str]) -> None:
    """Every saga ended as its outcome says (read after the count)."""
    for quote_id in quote_ids:
        shown = worker.services.quotes.view(quote_id)
        status = shown.saga.status if shown is not None and shown.saga else None
        if status != EXPECTED[outcome]:
            raise RuntimeError(f"{outcome}: saga {quote_id} ended {status}")


def _uuid_ids(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"quoting-saga/cost/{name}"))


def run_cost(sagas: int, feed: str = "each", ids: str = "short") -> int:
    """Start the local server, measure warm and cold workers, print the table."""
    with local_server() as url:
        connection = f"AccountEndpoint={url};AccountKey={EMULATOR_KEY};"
        results = {
            "warm": measure(connection, sagas, cold=False, feed=feed, ids=ids),
            "cold": measure(connection, sagas, cold=True, feed=feed, ids=ids),
        }
    print(render(results, sagas, feed, ids))
    return 0
