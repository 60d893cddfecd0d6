"""Worker processes: `python -m devhost` runs DEVHOST_PROCESSES hosts on one data directory and
one listening socket (inherited), as the Functions host runs several language workers: the
GIL lets one process use one core. Each worker takes its share of the leases (a change-feed
range, hub partitions); their commits wake each other (devhost/doorbell.py).

The supervisor here only starts the workers, restarts one that dies, and stops them all. A
worker dies with it (PR_SET_PDEATHSIG), so `kill -9` of the supervisor is a crash of all."""

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

logger = logging.getLogger("devhost")
LISTEN_FD = "DEVHOST_LISTEN_FD"  # set by the supervisor: the worker serves HTTP on this socket
CRASH_LOOP_SECONDS = 10.0  # a worker that dies this soon after its start is not restarted
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

    def start() -> tuple[subprocess.Popen[bytes], float]:
        child = subprocess.Popen(command, env=env, pass_fds=(listener.fileno(),))
        return child, time.monotonic()

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
        for i, (child, started) in enumerate(workers):
            rc = child.poll()
            if rc is None:
                continue
            if time.monotonic() - started < CRASH_LOOP_SECONDS:
                logger.error("worker %d (pid %d) failed at its start (exit %d)", i, child.pid, rc)
                failed = 1
                stop.set()
                break
            logger.error("worker %d (pid %d) exited (%d); starting another", i, child.pid, rc)
            workers[i] = start()
    for child, _ in workers:
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    for child, _ in workers:
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    listener.close()
    return failed
