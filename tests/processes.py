"""Real processes in tests: free loopback ports, and stopping a server with all it started."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    """A loopback port nothing listens on right now (the OS's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_ports(count: int) -> list[int]:
    """``count`` consecutive loopback ports nothing listens on (``authserver serve`` puts the API
    one port above the server).

    Searched below Linux's ephemeral range (32768-60999), where the suite's own client
    connections sit in TIME_WAIT by the hundred; probed with SO_REUSEADDR, as gunicorn binds.
    """
    for _ in range(200):
        base = random.randrange(20000, 32000 - count)  # noqa: S311 - a port, not a secret
        try:
            for port in range(base, base + count):
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return list(range(base, base + count))
    raise RuntimeError(f"no run of {count} free loopback ports")


def stop_process_group(process: subprocess.Popen, timeout: float = 15) -> None:
    """SIGTERM to the process's group (a gunicorn master and its workers), SIGKILL if it lingers.

    The process must have been started with ``start_new_session=True``.
    """
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@dataclass
class ServerProcess:
    """A service started for a test, and the file its output goes to."""

    name: str
    url: str
    process: subprocess.Popen
    log: Path

    def tail(self, lines: int = 40) -> str:
        """The end of its output, for an assertion's message."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- {self.name} log ---\n" + "\n".join(text.splitlines()[-lines:])
