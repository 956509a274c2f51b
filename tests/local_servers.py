"""Small real servers tests start on loopback: free ports, Redis."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest


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
                raise AssertionError(
                    f"nothing listens on {host}:{port} after {timeout_s}s"
                ) from None
            time.sleep(0.02)


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def redis_server() -> Iterator[str]:
    """The machine's Redis on 6379, or a throwaway `redis-server` started here (no disk)."""
    if _redis_answers(6379):
        yield "redis://127.0.0.1:6379/0"
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("no Redis on 127.0.0.1:6379 and no redis-server binary (.ci/run installs it)")
    port = free_port()
    command = [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    with running(command, port, stdout=subprocess.DEVNULL):
        yield f"redis://127.0.0.1:{port}/0"


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
