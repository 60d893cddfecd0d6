"""The bench's host processes: a tree's `python -m devhost` (this interpreter, cwd the tree, so
an older checkout runs its own code), optionally under strace counting fsync calls, and what is
read from them before they stop: peak RSS (VmHWM) and the fsync calls' times."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from devhost.client import Client, free_port

FSYNC_CALLS = "fsync,fdatasync"
# An strace -f -ttt line of a call's start: "<pid> <epoch seconds> fdatasync(5) = 0" or
# "... fdatasync(5 <unfinished ...>"; the "<... fdatasync resumed>" half is not a second call.
_CALL = re.compile(r"^\d+ +(?P<at>\d+\.\d+) (?:fsync|fdatasync)\(")


@dataclass
class HostProcess:
    process: subprocess.Popen[bytes]
    client: Client
    pid: int  # the Python host's own pid (under strace: strace's child)
    trace: Path | None = None
    peak_rss_kib: int | None = None
    fsync_times: list[float] = field(default_factory=list)


def start_host(
    tree: Path, data_dir: Path, n: int, role: str = "all", strace: bool = False, hosts: int = 1
) -> HostProcess:
    port = free_port()
    log = (data_dir / f"bench-host{n}.log").open("ab")
    command = [sys.executable, "-m", "devhost", "--data-dir", str(data_dir), "--port", str(port)]
    command += ["--role", role, "--log-level", "WARNING"]
    trace = data_dir / f"bench-host{n}.strace" if strace else None
    if trace is not None:
        # seccomp-bpf: only the traced calls stop the process, the rest run at full speed.
        strace_command = ["strace", "-f", "--seccomp-bpf", "-qq", "-ttt", "-o", str(trace)]
        command = [*strace_command, "-e", f"trace={FSYNC_CALLS}", *command]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the tree's own code
    # As many ranges of the change feed as hosts that run every function, so that each runs
    # an orchestrator (devhost/host.py DEFAULT_FEED_RANGES), unless the caller chose.
    env.setdefault("DEVHOST_FEED_RANGES", str(hosts if role == "all" else 1))
    # Each host is one process: the bench runs the workers itself (to read each one's
    # statistics), as `python -m devhost` would (devhost/workers.py).
    env["DEVHOST_PROCESSES"] = "1"
    process = subprocess.Popen(command, cwd=tree, stdout=log, stderr=log, env=env)
    log.close()
    client = Client(f"http://127.0.0.1:{port}", timeout=60)
    try:
        client.wait_until_ready(timeout=60)
    except BaseException:  # not up in time, or the bench interrupted: not left running
        process.kill()
        process.wait(timeout=10)
        raise
    pid = _traced_child(process.pid) if trace is not None else process.pid
    return HostProcess(process, client, pid, trace)


def _traced_child(pid: int) -> int:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return int(children[0])


def stop_host(host: HostProcess) -> None:
    """Read the peak RSS, stop the host (SIGTERM to the Python process itself), collect the
    fsync calls' times from the trace."""
    host.peak_rss_kib = peak_rss_kib(host.pid)
    if host.process.poll() is None:
        with contextlib.suppress(ProcessLookupError):  # it stopped on its own
            os.kill(host.pid, signal.SIGTERM)
        try:
            host.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            host.process.kill()
            host.process.wait(timeout=10)
    if host.trace is not None and host.trace.exists():
        for line in host.trace.read_text().splitlines():
            match = _CALL.match(line)
            if match:
                host.fsync_times.append(float(match["at"]))


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time a live process and its live children (the SQLite writer
    process) have used (/proc/<pid>/stat utime and stime)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        children = [
            int(child)
            for task in Path(f"/proc/{pid}/task").iterdir()
            for child in (task / "children").read_text().split()
        ]
    except OSError:
        return None
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(child) or 0.0 for child in children)


def peak_rss_kib(pid: int) -> int | None:
    """VmHWM (the resident set's high-water mark) of a live process; None where /proc has none."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(match[1]) if match else None
