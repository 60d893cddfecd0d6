"""Commits announced across the processes of one data directory: each host rings the others'
doorbells (a UDP datagram on loopback naming the topics it changed), so their pumps wake at
once instead of at their next poll (HostOptions.poll_seconds, 50 ms)."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Set
from pathlib import Path

from adapters.sqlite_database import SqliteDatabase

logger = logging.getLogger("devhost")
# Why a hand-written one: SQLite announces nothing to other processes, and the standard
# library's multiprocessing needs a common parent. A lost or late datagram costs one poll.
PEERS_TTL_SECONDS = 0.25  # how long a read of the doorbells directory is trusted


class Doorbell:
    """This process's doorbell in `directory` (one file per host, named `<pid>-<port>`)."""

    def __init__(self, directory: Path, database: SqliteDatabase) -> None:
        self.directory, self.database = directory, database
        directory.mkdir(parents=True, exist_ok=True)
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.settimeout(0.5)
        self.port = self._socket.getsockname()[1]
        self._file = directory / f"{os.getpid()}-{self.port}"
        self._peers: list[int] = []
        self._read_at = float("-inf")
        self._stopping = threading.Event()
        self._listener = threading.Thread(target=self._listen, name="doorbell", daemon=True)

    def start(self) -> None:
        _forget_dead(self.directory)
        self._file.touch()
        self._listener.start()
        self.database.on_commit = self.ring

    def ring(self, topics: Set[str]) -> None:
        """Tell the other hosts that a commit of this one changed `topics`."""
        message = "\n".join(sorted(topics)).encode()
        for port in self._current_peers():
            with contextlib.suppress(OSError):  # a stopped peer: it is forgotten at the next read
                self._socket.sendto(message, ("127.0.0.1", port))

    def _current_peers(self) -> list[int]:
        now = time.monotonic()
        if now - self._read_at > PEERS_TTL_SECONDS:
            self._read_at = now
            with contextlib.suppress(OSError):
                self._peers = [
                    port
                    for name in os.listdir(self.directory)
                    if (port := _port(name)) is not None and port != self.port
                ]
        return self._peers

    def _listen(self) -> None:
        while not self._stopping.is_set():
            try:
                message = self._socket.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            # Any process may send here: a stray datagram must not stop the listener.
            self.database.announce(set(message.decode(errors="replace").split("\n")) - {""})

    def stop(self) -> None:
        if self.database.on_commit == self.ring:
            self.database.on_commit = None
        self._stopping.set()
        self._file.unlink(missing_ok=True)
        self._listener.join(2)
        self._socket.close()


def _port(name: str) -> int | None:
    pid, _, port = name.partition("-")
    return int(port) if pid.isdigit() and port.isdigit() else None


def _forget_dead(directory: Path) -> None:
    """Remove the doorbells of processes that are gone (a host killed without stopping)."""
    for path in directory.iterdir():
        pid = path.name.partition("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would end the process there: keep every file
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
