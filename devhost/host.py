"""The local host: settings, the app's functions, and a listener per trigger — HTTP server,
change-feed pump, one pump per hub partition, timers — with leases shared through SQLite so
several hosts (threads or processes) can run on one data directory."""

from __future__ import annotations

import gc
import logging
import os
import socket
import sys
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.sqlite import SqliteEventStore
from adapters.sqlite_database import SqliteDatabase
from adapters.sqlite_log import SqliteHubLog
from application.ports import TransientFailure
from devhost import sources
from devhost.doorbell import Doorbell
from devhost.failures import log_failure
from devhost.functions import Function, discover
from devhost.http import HttpApp, HttpRoutes
from devhost.http_server import HttpLimits, HttpServer
from devhost.indexing import index
from devhost.invoker import Invoker
from devhost.leases import LeaseKeeper
from devhost.pump import Pump
from devhost.settings import disabled_functions, host_settings
from devhost.status import backlog
from devhost.timers import TimerRunner, lease_name

logger = logging.getLogger("devhost")
APP_DIR = Path(__file__).resolve().parent.parent
# Ranges of the local change feed (adapters/sqlite.py FeedRange), each an orchestrator lease.
# One: at 10 sagas/s (`bench --rate 10`) two ranges made p50 approval -> end ~2 ms longer (both
# pumps wake on every append) for no clear gain in sagas/s. `python -m devhost` in worker
# processes sets one range per worker, so that each runs an orchestrator (devhost/workers.py).
DEFAULT_FEED_RANGES = 1


@dataclass
class HostOptions:
    data_dir: Path = Path(".devhost")
    port: int = 7071
    bind: str = "127.0.0.1"
    lease_seconds: float = 5.0
    poll_seconds: float = 0.05
    reuse_port: bool = False
    role: str = "all"  # all | http (HTTP triggers only) | triggers (everything but HTTP)
    listener: socket.socket | None = None  # a listening socket to serve on (devhost/workers.py)
    app_dir: Path = field(default_factory=lambda: APP_DIR)


def feed_ranges(environ: Mapping[str, str] = os.environ) -> int:
    """DEVHOST_FEED_RANGES: how many ranges (and leases) the local change feed has."""
    return int(environ.get("DEVHOST_FEED_RANGES", DEFAULT_FEED_RANGES))


class Host:
    def __init__(self, options: HostOptions) -> None:
        self.options = options
        self.settings = host_settings(options.data_dir, options.app_dir)
        # The app is imported after the settings are in the environment, as the worker does.
        self.functions = discover(index(options.app_dir), self.settings)
        for name in sorted(disabled_functions(self.settings)):
            logger.warning("%s is disabled (AzureWebJobs.%s.Disabled)", name, name)
        data_dir = Path(self.settings["SQLITE_DIR"])
        data_dir.mkdir(parents=True, exist_ok=True)
        self.database = SqliteDatabase.shared(data_dir / "store.db")
        if os.environ.get("DEVHOST_WRITER_PROCESS", "1") != "0":
            self.database.use_writer_process()
        self.doorbell = Doorbell(data_dir / "doorbells", self.database)
        self.store = SqliteEventStore(self.database)
        self.log = SqliteHubLog(self.database)
        self.stopping = threading.Event()
        self.invoker = Invoker(self.database, self.stopping)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._threads: list[threading.Thread] = self._listeners()
        self.keeper.names = [thread.lease for thread in self._threads]  # type: ignore[attr-defined]
        self.keeper.groups = {t.lease: getattr(t, "group", t.lease) for t in self._threads}  # type: ignore[attr-defined]
        self.server: HttpServer | None = None

    def _listeners(self) -> list[threading.Thread]:
        self.keeper = LeaseKeeper(self.database, self.owner, [], self.options.lease_seconds)
        batch = sources.max_event_batch_size(self.options.app_dir)
        threads: list[threading.Thread] = []
        for function in self.functions if self.options.role != "http" else []:
            match function.trigger_type:
                case "cosmosDBTrigger":
                    for source in sources.change_feed(function, self.store, feed_ranges()):
                        threads.append(self._pump(function, source))
                case "eventHubTrigger":
                    for source in sources.hub_partitions(function, self.log, batch):
                        threads.append(self._pump(function, source))
                case "timerTrigger":
                    threads.append(TimerRunner(function, self.keeper, self.invoker, self.stopping))
        return threads

    def _pump(self, function: Function, source: sources.Source[Any]) -> Pump[Any]:
        return Pump(
            function,
            source,
            self.keeper,
            self.invoker,
            self.database,
            self.stopping,
            self.options.poll_seconds,
        )

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.server_address[1])

    def start(self) -> None:
        http = [f for f in self.functions if f.trigger_type == "httpTrigger"]
        if self.options.role == "triggers":
            http = []  # still serves /admin/...
        prefix = "api"
        self.server = HttpServer(
            (self.options.bind, self.options.port),
            HttpApp(HttpRoutes(http, prefix), self.invoker, self._admin),
            self.options.reuse_port,
            HttpLimits.from_environment(),
            self.options.listener,
        )
        self.doorbell.start()
        try:
            self.keeper.heartbeat()
        except TransientFailure as error:  # e.g. a full disk: start anyway, answer 503s
            log_failure(logger, "lease heartbeat", error)  # and the heartbeat tries again
        self._heart = threading.Thread(target=self._beat, name="lease heartbeat", daemon=True)
        self._heart.start()
        for thread in self._threads:
            thread.start()
        self._http = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
        )
        self._http.start()
        logger.info(
            "devhost %s serving %d functions on http://%s:%d/%s (data in %s)",
            self.owner,
            len(self.functions),
            self.options.bind,
            self.port,
            prefix,
            self.settings["SQLITE_DIR"],
        )
        for function in self.functions:
            logger.info("  %s: %s", function.name, _describe(function))

    def _beat(self) -> None:
        interval = self.options.lease_seconds / 5
        while not self.stopping.wait(interval):
            try:
                self.keeper.heartbeat()
            except Exception as error:
                log_failure(logger, "lease heartbeat", error)

    def stop(self, timeout: float = 30.0) -> None:
        """Graceful: take no new work, let running invocations finish and checkpoint, give
        the leases back so another host takes over at once."""
        self.stopping.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        for thread in self._threads:
            thread.join(timeout)
        self.doorbell.stop()
        try:
            self.keeper.forget_host()
        except TransientFailure as error:  # e.g. a full disk: the leases expire on their own
            logger.warning(
                "could not hand the leases back (%s); they expire in %.0f s",
                error,
                self.options.lease_seconds,
            )
        logger.info("devhost %s stopped", self.owner)

    def _admin(self, path: str) -> dict[str, Any] | None:
        if path == "/admin/host/status":
            return {"state": "Stopping" if self.stopping.is_set() else "Running", "id": self.owner}
        if path == "/admin/devhost/backlog":
            hubs = [
                (f.trigger["eventHubName"], f.trigger.get("consumerGroup") or "$Default")
                for f in self.functions
                if f.trigger_type == "eventHubTrigger"
            ]
            return backlog(self.database, hubs)
        if path == "/admin/devhost/stats":
            return {
                "store": self.database.stats(),
                "invocations": dict(self.invoker.invocations),
                "failures": dict(self.invoker.failures),
                # What the collector skips and how often it ran, per generation, and how long
                # a thread may keep the GIL (devhost/__main__.py: tune_the_interpreter).
                "gc": {
                    "frozen": gc.get_freeze_count(),
                    "collections": [g["collections"] for g in gc.get_stats()],
                },
                "switch_interval_s": sys.getswitchinterval(),
            }
        return None


def _describe(function: Function) -> str:
    t = function.trigger
    match function.trigger_type:
        case "httpTrigger":
            methods = ",".join(t.get("methods") or ["*"])
            return f"http {methods} /api/{t.get('route') or function.name}"
        case "cosmosDBTrigger":
            return f"change feed of {t['databaseName']}/{t['containerName']}"
        case "eventHubTrigger":
            return f"hub {t['eventHubName']} ({t.get('consumerGroup')}, {t.get('cardinality')})"
        case "timerTrigger":
            return f"timer {t['schedule']} ({lease_name(function)})"
    return function.trigger_type
