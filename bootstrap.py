"""The composition root: the only reader of the environment. Builds settings and, lazily, one
set of adapters per worker process (SDK clients are never created at import time)."""

from __future__ import annotations

import atexit
import os
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from application.commands import CommandHandler, Rules
from application.deciding import DecisionRunner
from application.inbox import CommandInbox
from application.orchestration import Orchestrator
from application.ports import CommandPublisher, DeadLetterStore, EventStore, ViewStore
from application.quotes import QuoteService
from application.replay import DeadLetterDesk
from application.saga_step import SagaStep
from application.sagas import SagaService
from domain.messages import StreamCategory
from domain.registry import AGGREGATES, BY_CATEGORY
from domain.saga import SagaRules

# Identity-based connection prefixes, shared by the Functions bindings and our SDK clients:
# `CosmosDb__accountEndpoint` / `EventHubs__fullyQualifiedNamespace` in Azure (managed identity),
# or a plain connection string in `CosmosDb` / `EventHubs` for the emulators.
# https://learn.microsoft.com/azure/azure-functions/functions-reference#connections
COSMOS_CONNECTION = "CosmosDb"
EVENTHUBS_CONNECTION = "EventHubs"

# Every setting the app reads, with its default. Bindings refer to names via %NAME%. The
# aggregates' settings (hub, consumer group, rules) come from the registry.
DEFAULTS: dict[str, str] = {
    "STORE_BACKEND": "cosmos",  # cosmos | sqlite | memory
    "PUBLISHER_BACKEND": "eventhubs",  # eventhubs | sqlite-log | memory
    "COSMOS_DATABASE": "quoting",
    "EVENTS_CONTAINER": "events",
    # The saga's own streams, out of the container the orchestrator's change feed watches.
    "SAGAS_CONTAINER": "sagas",
    "LEASES_CONTAINER": "leases",
    "VIEWS_CONTAINER": "views",
    "DEADLETTERS_CONTAINER": "deadletters",
    **{a.hub_setting: a.wiring_defaults[a.hub_setting] for a in AGGREGATES},
    "SAGA_EVENTS_HUB": "saga-events",
    **{a.consumer_group_setting: a.wiring_defaults[a.consumer_group_setting] for a in AGGREGATES},
    "SAGA_STEP_TIMEOUT_SECONDS": "300",
    "SAGA_TIMEOUT_SCHEDULE": "0 */1 * * * *",
    **{name: default for a in AGGREGATES for name, default in a.settings.items()},
    "SQLITE_DIR": ".devhost",
    # Create missing Cosmos containers on first use: for the emulator only (in Azure, Bicep
    # creates them and the app's identity may not).
    "COSMOS_ENSURE_CONTAINERS": "false",
}


@dataclass(frozen=True)
class Settings:
    values: Mapping[str, str]

    def __getitem__(self, name: str) -> str:
        return self.values.get(name) or DEFAULTS[name]

    def get(self, name: str) -> str | None:
        return self.values.get(name) or DEFAULTS.get(name)

    @classmethod
    def from_environment(cls) -> Settings:
        return cls(dict(os.environ))


def utc_now() -> datetime:
    return datetime.now(UTC)


def rules_from(settings: Settings) -> Rules:
    saga = SagaRules(timedelta(seconds=float(settings["SAGA_STEP_TIMEOUT_SECONDS"])))
    return Rules.from_settings(settings.__getitem__, saga)


@dataclass
class Adapters:
    store: EventStore
    publisher: CommandPublisher
    views: ViewStore
    dead_letters: DeadLetterStore
    # Where the saga's streams live (Cosmos: SAGAS_CONTAINER, so its documents do not trigger
    # the orchestrator); None: in `store` with the aggregates' (memory, SQLite).
    saga_store: EventStore | None = None
    close: Callable[[], None] = lambda: None


@dataclass
class Services:
    """Everything the triggers call, wired once per worker."""

    settings: Settings
    adapters: Adapters
    clock: Callable[[], datetime] = utc_now
    new_id: Callable[[], str] = field(default=lambda: str(uuid.uuid4()))

    def __post_init__(self) -> None:
        a, rules = self.adapters, rules_from(self.settings)
        self.commands = CommandHandler(a.store, self.clock, rules)
        saga_step = SagaStep(DecisionRunner(a.saga_store or a.store, self.clock), rules.saga)
        self.orchestrator = Orchestrator(
            saga_step,
            a.publisher,
            a.views,
            a.dead_letters,
            self.clock,
            origin=self.settings["EVENTS_CONTAINER"],
        )
        self.quotes = QuoteService(self.commands, a.views, self.clock, self.new_id)
        self.sagas = SagaService(a.views, self.clock)
        self.desk = DeadLetterDesk(a.dead_letters, self.commands, self.orchestrator, self.clock)
        self._inboxes = {
            category: CommandInbox(
                self.commands,
                a.dead_letters,
                self.clock,
                self.settings[aggregate.hub_setting],
            )
            for category, aggregate in BY_CATEGORY.items()
        }

    def inbox(self, category: StreamCategory) -> CommandInbox:
        return self._inboxes[category]


def build_adapters(settings: Settings) -> Adapters:
    """The adapters the settings ask for; SDK clients are created here, never at import."""
    store_backend, publisher_backend = settings["STORE_BACKEND"], settings["PUBLISHER_BACKEND"]
    adapters: dict[str, Any] = {}
    closers: list[Callable[[], None]] = []
    if store_backend == "memory":
        from adapters.memory import InMemoryDeadLetterStore, InMemoryEventStore, InMemoryViewStore

        adapters |= {
            "store": InMemoryEventStore(),
            "views": InMemoryViewStore(),
            "dead_letters": InMemoryDeadLetterStore(),
        }
    elif store_backend == "sqlite":
        from adapters.sqlite import SqliteDeadLetterStore, SqliteEventStore, SqliteViewStore
        from adapters.sqlite_database import SqliteDatabase

        directory = Path(settings["SQLITE_DIR"])
        directory.mkdir(parents=True, exist_ok=True)
        # One database object per file: a view write inside an event-store transaction on the
        # same thread joins that transaction instead of waiting for its lock.
        database = SqliteDatabase.shared(directory / "store.db")
        adapters |= {
            "store": SqliteEventStore(database),
            "views": SqliteViewStore(database),
            "dead_letters": SqliteDeadLetterStore(database),
        }
    elif store_backend == "cosmos":
        from adapters import cosmos_account

        adapters |= cosmos_account.stores_from_settings(settings.get, COSMOS_CONNECTION)
    else:
        raise ValueError(f"STORE_BACKEND={store_backend!r}: expected cosmos, sqlite or memory")
    if publisher_backend == "memory":
        from adapters.memory import InMemoryCommandPublisher

        adapters["publisher"] = InMemoryCommandPublisher()
    elif publisher_backend == "sqlite-log":
        from adapters.sqlite_log import SqliteLogCommandPublisher

        adapters["publisher"] = SqliteLogCommandPublisher.from_settings(settings)
    elif publisher_backend == "eventhubs":
        from adapters.eventhubs import create_eventhubs_publisher

        publisher = create_eventhubs_publisher(settings.get)
        adapters["publisher"] = publisher
        closers.append(publisher.close)
    else:
        raise ValueError(
            f"PUBLISHER_BACKEND={publisher_backend!r}: expected eventhubs, sqlite-log or memory"
        )

    def close() -> None:
        for closer in closers:
            closer()

    return Adapters(close=close, **adapters)


_lock = threading.Lock()
_services: Services | None = None


def services() -> Services:
    """This worker's services, built on first use (thread-safe)."""
    global _services  # noqa: PLW0603 - one set of services per worker process
    with _lock:
        if _services is None:
            settings = Settings.from_environment()
            configure_telemetry(settings)
            # A failure here (an unreachable account) leaves nothing cached: the next
            # invocation tries again.
            _services = Services(settings, build_adapters(settings))
            atexit.register(_services.adapters.close)  # flush and close SDK producers
        return _services


def install(replacement: Services | None) -> Services | None:
    """Swap this worker's services (tests and the local host); returns the previous ones."""
    global _services
    with _lock:
        previous, _services = _services, replacement
        return previous


def worker_exports_telemetry(settings: Settings) -> bool:
    """True when the Python worker configures Azure Monitor itself (Bicep sets it in Azure).

    With PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY the worker calls configure_azure_monitor
    at start (for the PYTHON_APPLICATIONINSIGHTS_LOGGER_NAME logger); a second call from the
    app would export everything twice. The worker's own truthiness test:
    https://learn.microsoft.com/azure/azure-functions/opentelemetry-howto?pivots=programming-language-python
    """
    flag = settings.get("PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY") or ""
    return flag.lower().strip() in {"1", "true", "t", "yes", "y"}


def configure_telemetry(settings: Settings) -> None:
    """OpenTelemetry export to Application Insights when a connection string is set and the
    worker does not export already (any host other than Azure's, e.g. the local host)."""
    if not settings.get("APPLICATIONINSIGHTS_CONNECTION_STRING"):
        return
    if worker_exports_telemetry(settings):
        return
    from azure.monitor.opentelemetry import configure_azure_monitor

    # Application Insights has local auth disabled in our Bicep: present the app's managed
    # identity. (The exporter can also build it from APPLICATIONINSIGHTS_AUTHENTICATION_STRING.)
    credential = None
    client_id = settings.get("AZURE_CLIENT_ID")
    if client_id:
        from azure.identity import ManagedIdentityCredential

        credential = ManagedIdentityCredential(client_id=client_id)
    configure_azure_monitor(logger_name="quoting", credential=credential)
