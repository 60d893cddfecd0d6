"""Local hosts as OS processes on free ports, and what the e2e tests check them with."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from adapters.sqlite import SqliteDeadLetterStore, SqliteEventStore
from adapters.sqlite_database import SqliteDatabase
from devhost.client import Client, free_port

REPO = Path(__file__).resolve().parents[2]
STARTED_LOGS: list[Path] = []  # the logs of the hosts a test started: shown when it fails


def host_environment(settings: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment for a `python -m devhost` it starts, with `settings` on top,
    but for the store the tests' own process was given (STORE_BACKEND, SQLITE_DIR): the host
    keeps its store in its own data directory."""
    env = {k: v for k, v in os.environ.items() if k not in ("STORE_BACKEND", "SQLITE_DIR")}
    return env | dict(settings or {})


def children(pid: int) -> list[int]:
    """The live processes `pid` started, from any of its threads (/proc/<pid>/task/*/children)."""
    return [
        int(child)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for child in (task / "children").read_text().split()
    ]


def descendants(pid: int) -> list[int]:
    """Every live process below `pid`: its children, theirs, and so on."""
    return [p for child in children(pid) for p in (child, *descendants(child))]


class HostProcess:
    """`python -m devhost` on a data directory; killed with SIGKILL, stopped with SIGTERM."""

    def __init__(
        self,
        data_dir: Path,
        lease_seconds: float = 2.0,
        name: str = "host",
        settings: dict[str, str] | None = None,
        log_level: str = "WARNING",
        log_dir: Path | None = None,
    ) -> None:
        self.data_dir, self.lease_seconds, self.name = data_dir, lease_seconds, name
        self.log_level = log_level
        self.log = (log_dir or data_dir) / f"{name}.log"  # its stdout and stderr
        self.settings = dict(settings or {})  # app settings, as the environment gives them
        self.port = free_port()
        self.client = Client(f"http://127.0.0.1:{self.port}")
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, wait: bool = True) -> HostProcess:
        log = self.log.open("ab")
        if self.log not in STARTED_LOGS:
            STARTED_LOGS.append(self.log)
        env = host_environment(self.settings)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "devhost",
                "--data-dir",
                str(self.data_dir),
                "--port",
                str(self.port),
                "--lease-seconds",
                str(self.lease_seconds),
                "--log-level",
                self.log_level,
            ],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        log.close()
        self.starts += 1
        if wait:
            self.client.wait_until_ready(timeout=30)
        return self

    def kill(self) -> None:
        """kill -9: no clean-up, leases left to expire, transactions cut short."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def terminate(self, timeout: float = 30) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


def open_store(data_dir: Path) -> tuple[SqliteDatabase, SqliteEventStore, SqliteDeadLetterStore]:
    database = SqliteDatabase(data_dir / "store.db")
    return database, SqliteEventStore(database), SqliteDeadLetterStore(database)


def wait_until_quiet(client: Client, timeout: float = 60.0) -> dict[str, Any]:
    """Until nothing is left to deliver: the change feed and every hub partition consumed."""
    deadline, backlog = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        status, backlog = client.request("GET", "/admin/devhost/backlog", patience=10)
        if status == 200 and backlog and not any(backlog.values()):
            time.sleep(0.3)  # and still so a moment later (a batch may be mid-commit)
            status, again = client.request("GET", "/admin/devhost/backlog", patience=10)
            if status == 200 and not any(again.values()):
                return again
        time.sleep(0.1)
    raise TimeoutError(f"still busy: {backlog}")
