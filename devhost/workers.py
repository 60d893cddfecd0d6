"""Worker processes: `python -m devhost` runs DEVHOST_PROCESSES hosts on one data directory and
one listening socket (inherited), as the Functions host runs several language workers: the
GIL lets one process use one core. Each worker takes its share of the leases (a change-feed
range, hub partitions); their commits wake each other (devhost/doorbell.py).

The supervisor here only starts the workers, restarts one that dies, and stops them all. A
worker dies with it (PR_SET_PDEATHSIG), so `kill -9` of the supervisor is a crash of all.
A worker tells the supervisor it has started through a pipe of its own: one that dies before
it says so cannot start (its log says why) and would only die again, so the host stops."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

logger = logging.getLogger("devhost")
LISTEN_FD = "DEVHOST_LISTEN_FD"  # set by the supervisor: the worker serves HTTP on this socket
READY_FD = "DEVHOST_READY_FD"  # set by the supervisor: the worker writes one byte once started
STOP_SECONDS = 60.0


def worker_processes(environ: Mapping[str, str] = os.environ) -> int:
    """DEVHOST_PROCESSES, else one per core up to two on Linux (where a worker also dies with
    its supervisor), else one."""
    if LISTEN_FD in environ or os.name != "posix":
        return 1  # a worker never supervises; and only POSIX hands a socket down (pass_fds)
    if "DEVHOST_PROCESSES" in environ:
        value = environ["DEVHOST_PROCESSES"]
        if not value.strip().isdigit() or int(value) < 1:
            raise SystemExit(f"DEVHOST_PROCESSES must be a whole number from 1, not {value!r}")
        return int(value)
    return min(2, os.cpu_count() or 1) if sys.platform == "linux" else 1


def inherited_socket(environ: Mapping[str, str] = os.environ) -> socket.socket | None:
    """In a worker: the supervisor's listening socket; and die when the supervisor does."""
    if LISTEN_FD not in environ:
        return None
    _die_with_parent(int(environ.get("DEVHOST_SUPERVISOR", "0")))
    return socket.socket(fileno=int(environ[LISTEN_FD]))


def report_started(environ: Mapping[str, str] = os.environ) -> None:
    """In a worker: tell the supervisor this worker has started (its functions are running)."""
    if READY_FD in environ:
        fd = int(environ[READY_FD])
        with contextlib.suppress(OSError):  # the supervisor is gone: this worker dies with it
            os.write(fd, b"1")
        os.close(fd)


@dataclass
class _Worker:
    process: subprocess.Popen[bytes]
    ready: int  # the pipe's end the worker writes to once it has started

    def has_started(self) -> bool:
        """Asked once, when the worker has exited: whether it wrote its byte before."""
        try:
            return os.read(self.ready, 1) == b"1"
        except BlockingIOError:  # nothing written, and the pipe still open elsewhere
            return False

    def close(self) -> None:
        if self.ready >= 0:
            os.close(self.ready)
            self.ready = -1


def _die_with_parent(supervisor: int) -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if supervisor and os.getppid() != supervisor:  # it died before the call above
        os.kill(os.getpid(), signal.SIGKILL)


def supervise(argv: Sequence[str], bind: str, port: int, processes: int) -> int:
    """Listen on (bind, port), run `processes` workers with `argv` until SIGINT or SIGTERM,
    then stop them gracefully. 1 if a worker failed at its start (its log says why)."""
    try:
        listener = socket.create_server((bind, port), backlog=1024)
    except OSError as error:
        logger.error("cannot listen on %s:%d: %s", bind, port, error)
        return 1
    listener.set_inheritable(True)
    env = dict(os.environ)
    env |= {LISTEN_FD: str(listener.fileno()), "DEVHOST_SUPERVISOR": str(os.getpid())}
    # One range of the change feed per worker, so that each runs an orchestrator.
    env.setdefault("DEVHOST_FEED_RANGES", str(processes))
    command = [sys.executable, "-m", "devhost", *argv]

    def start() -> _Worker:
        ready, write = os.pipe()
        os.set_blocking(ready, False)
        try:
            child = subprocess.Popen(
                command,
                env=env | {READY_FD: str(write)},
                pass_fds=(listener.fileno(), write),
                # A group of its own: a terminal's Ctrl-C reaches the supervisor only, which
                # stops each worker with SIGTERM (one still starting would die of a SIGINT).
                process_group=0,
            )
        finally:
            os.close(write)
        return _Worker(child, ready)

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    workers = [start() for _ in range(processes)]
    print(
        f"devhost listening on http://{bind}:{listener.getsockname()[1]}/api"
        f" ({processes} worker processes)",
        flush=True,
    )
    failed = 0
    while not stop.wait(0.5):
        for i, worker in enumerate(workers):
            rc = worker.process.poll()
            if rc is None:
                continue
            started, pid = worker.has_started(), worker.process.pid
            worker.close()
            if not started:
                logger.error("worker %d (pid %d) failed at its start (exit %d)", i, pid, rc)
                failed = 1
                stop.set()
                break
            logger.error("worker %d (pid %d) exited (%d); starting another", i, pid, rc)
            workers[i] = start()
    for worker in workers:
        with contextlib.suppress(ProcessLookupError):
            worker.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    for worker in workers:
        try:
            worker.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait()
    for worker in workers:
        worker.close()
    listener.close()
    return failed
