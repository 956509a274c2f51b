"""Processes tests start on loopback: free ports, a command running until it listens."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout_s: float = 15.0, host: str = "127.0.0.1") -> None:
    """Until something accepts TCP connections on `host`:`port`."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                message = f"nothing listens on {host}:{port} after {timeout_s}s"
                raise AssertionError(message) from None
            time.sleep(0.02)


@contextmanager
def running(
    command: list[str],
    port: int,
    *,
    timeout_s: float = 15.0,
    host: str = "127.0.0.1",
    **popen: Any,
) -> Iterator[subprocess.Popen[Any]]:
    """`command` as a process, once it listens on `host`:`port`; terminated at exit."""
    # As a context manager, Popen closes the process's pipes once it is reaped.
    with subprocess.Popen(command, **popen) as process:
        try:
            wait_for_port(port, timeout_s, host)
            yield process
        finally:
            process.terminate()
            process.wait(timeout=30)
