"""A process of its own that runs a host's write groups (SqliteDatabase.use_writer_process).

Why a process: a group's SQL run by one of the host's threads releases the GIL at every
statement (sqlite3 does, around each step) and must take it back behind the host's other
threads (HTTP, pumps) each time; measured with py-spy, a leader spent most of its time with the
write lock held waiting for the GIL, not in SQLite. This process has one thread, so its
statements never wait, and the host's leader waits for one answer with the GIL released.

The protocol, on the child's standard input and output: a length-prefixed pickle per message.
The host sends a group, [(batcher "module:function", [payload, ...]), ...] (see
SqliteDatabase.defer's `batch`); the child takes the file's write lock, runs the batchers in one
transaction, commits, and answers ("ok", [results, ...]) or ("failed", repr of the error),
having rolled back. End of input: the host is gone, and so is this process.
"""

from __future__ import annotations

import importlib
import os
import pickle
import signal
import sqlite3
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

_LENGTH = struct.Struct("!I")
ROOT = Path(__file__).resolve().parent.parent


def write_frame(stream: IO[bytes], message: object) -> None:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(body)) + body)
    stream.flush()


def read_frame(stream: IO[bytes]) -> Any:
    """The next message; EOFError when the other side is gone."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        raise EOFError("the other side of the writer's pipe is gone")
    (length,) = _LENGTH.unpack(head)
    body = stream.read(length)
    if len(body) < length:
        raise EOFError("the writer's pipe closed inside a message")
    return pickle.loads(body)  # our own pipe to our own child


def batcher_name(function: Any) -> str:
    return f"{function.__module__}:{function.__qualname__}"


class WriterProcess:
    """The host side: a started child and one exchange at a time (the writer's turn holder)."""

    def __init__(self, path: str, synchronous: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "adapters.sqlite_writer", path, synchronous],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        self._lock = threading.Lock()

    def run(self, batches: list[tuple[str, list[Any]]]) -> list[Any]:
        """Run and commit a group in the child: each batcher's results; an exception (and
        nothing written) if it failed; EOFError if the child is gone."""
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        with self._lock:
            write_frame(self.process.stdin, batches)
            outcome, detail = read_frame(self.process.stdout)
        if outcome != "ok":
            raise WriterFailed(detail)
        return list(detail)

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


class WriterFailed(Exception):
    """The child rolled a group back: the host runs its units one by one to find whose."""


def serve(path: str, synchronous: str, stdin: IO[bytes], stdout: IO[bytes]) -> None:
    from adapters.sqlite_database import BUSY_TIMEOUT_SECONDS, _FileLock, use_wal

    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
    use_wal(conn, path)
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    lock = _FileLock(f"{path}-writer.lock")
    batchers: dict[str, Any] = {}
    while True:
        try:
            batches = read_frame(stdin)
        except EOFError:
            return
        lock.acquire()
        try:
            conn.execute("BEGIN IMMEDIATE")
            results = []
            for name, payloads in batches:
                if name not in batchers:
                    module, _, function = name.partition(":")
                    batchers[name] = getattr(importlib.import_module(module), function)
                results.append(batchers[name](conn, payloads))
            conn.execute("COMMIT")
            answer: tuple[str, object] = ("ok", results)
        except BaseException as error:  # the host decides what it means
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            answer = ("failed", repr(error))
        finally:
            lock.release()
        write_frame(stdout, answer)


if __name__ == "__main__":
    # Its host ends it (by closing the pipe); a Ctrl-C in the terminal, which reaches every
    # process of the group, must not cut a group's commit short.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # whatever an imported module prints must not corrupt the answers
    serve(sys.argv[1], sys.argv[2], sys.stdin.buffer, answers)
