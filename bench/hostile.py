"""Hostile clients against the nginx edge in front of `spacex-etl api`; prints what each attack
got, what a normal client got meanwhile, and what the app and nginx kept in memory.

    .venv/bin/python -m bench.hostile

The shipped template (deploy/nginx) rendered as the nginx image renders it and run by Debian's
nginx on loopback, in front of `spacex-etl api` (no database needed: `/health` touches none).
Its rate limit is set out of the way (the normal client polls); every other bound is the
shipped one. Each attack comes from an address of its own, the normal client from another:
  1. 10 clients each send a 50 MiB header at once;
  2. 2,000 slowloris connections send a request line and drip a header byte a second;
  3. 1,000 connections announce a 100-byte body and drip it a byte a second.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

import httpx
import psutil
from tests.e2e.support import drip_until_cut, nginx_edge
from tests.local_servers import free_port, running

HEADER_BOMBS = 10
HEADER_BOMB_BYTES = 50 * 2**20
SLOW_HEADERS = 2000
SLOW_BODIES = 1000
NORMAL_CLIENT = "127.0.0.20"


def _rss_mib(pids: list[int]) -> float:
    rss: int = sum(psutil.Process(pid).memory_info().rss for pid in pids)
    return rss / 2**20


def _connect(port: int, address: str) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(address, 0))


def _header_bomb(port: int, answers: list[bytes]) -> None:
    with _connect(port, "127.0.0.21") as sock:
        chunk = b"a" * 65536
        with suppress(OSError):  # the edge answered and closed: read its answer
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: edge\r\nX-Big: ")
            for _ in range(HEADER_BOMB_BYTES // len(chunk)):
                sock.sendall(chunk)
        with suppress(OSError):
            answers.append(sock.recv(64).split(b"\r\n")[0])


@contextmanager
def _normal_client(edge: str) -> Iterator[Callable[[], str]]:
    """Polls `/health` from its own address until the block ends; yields a summary maker."""
    latencies: list[float] = []
    failures: list[str] = []
    stop = threading.Event()

    def poll() -> None:
        transport = httpx.HTTPTransport(local_address=NORMAL_CLIENT)
        with httpx.Client(transport=transport, timeout=10) as client:
            while True:  # at least one request, then ten a second
                started = time.monotonic()
                try:
                    status = client.get(f"{edge}/health").status_code
                except httpx.HTTPError as error:
                    failures.append(type(error).__name__)
                else:
                    latencies.append(time.monotonic() - started)
                    if status != 200:
                        failures.append(str(status))
                if stop.wait(0.1):
                    return

    thread = threading.Thread(target=poll)
    thread.start()

    def summary() -> str:
        if not latencies:
            return f"a normal client meanwhile: no answer, {len(failures)} failed"
        return (
            f"a normal client meanwhile: {len(latencies)} requests, {len(failures)} not 200, "
            f"latency median {statistics.median(latencies) * 1000:.1f} ms, "
            f"max {max(latencies) * 1000:.1f} ms"
        )

    try:
        yield summary
    finally:
        stop.set()
        thread.join()


def _slowloris(port: int, count: int, head: bytes, address: str) -> list[tuple[float, bytes]]:
    with ExitStack() as stack:
        socks = [stack.enter_context(_connect(port, address)) for _ in range(count)]
        for sock in socks:
            sock.sendall(head)
        return drip_until_cut(socks, timeout_s=60)


def main() -> None:
    api_port, edge_port = free_port(), free_port()
    env = {
        **os.environ,
        "DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none",
        "API_PORT": str(api_port),
        "LOG_LEVEL": "WARNING",
        "TRUSTED_PROXIES": "127.0.0.1",
    }
    values = {
        "NGINX_LISTEN_PORT": f"127.0.0.1:{edge_port}",
        "API_UPSTREAM": f"127.0.0.1:{api_port}",
        "NGINX_RATE_LIMIT": "1000r/s",
        "NGINX_RATE_BURST": "1000",
    }
    command = [sys.executable, "-m", "spacex_etl", "api"]
    with (
        running(command, api_port, timeout_s=60, env=env, stderr=subprocess.DEVNULL) as app,
        tempfile.TemporaryDirectory() as prefix,
        nginx_edge(Path(prefix), values, edge_port, worker_connections=8192) as edge,
    ):
        nginx = psutil.Process(int((Path(prefix) / "nginx.pid").read_text()))
        nginx_pids = [nginx.pid, *(child.pid for child in nginx.children())]
        app_before, nginx_before = _rss_mib([app.pid]), _rss_mib(nginx_pids)
        print(f"RSS before: app {app_before:.0f} MiB, nginx {nginx_before:.0f} MiB")

        with _normal_client(edge) as meanwhile:
            answers: list[bytes] = []
            started = time.monotonic()
            bombs = [
                threading.Thread(target=_header_bomb, args=(edge_port, answers))
                for _ in range(HEADER_BOMBS)
            ]
            for bomb in bombs:
                bomb.start()
            for bomb in bombs:
                bomb.join()
            print(
                f"{HEADER_BOMBS} x 50 MiB headers: {answers.count(b'HTTP/1.1 400 Bad Request')} "
                f"answered 400, the last "
                f"in {time.monotonic() - started:.2f}s; {meanwhile()}"
            )

        with _normal_client(edge) as meanwhile:
            head = b"GET /health HTTP/1.1\r\nHost: edge\r\nX-Slow: "
            lasted = _slowloris(edge_port, SLOW_HEADERS, head, "127.0.0.22")
            seconds = [s for s, _ in lasted]
            print(
                f"{SLOW_HEADERS} slowloris header connections, a byte a second: all cut after "
                f"{min(seconds):.1f}-{max(seconds):.1f}s, "
                f"{sum(answer == b'' for _, answer in lasted)} without an answer; {meanwhile()}"
            )

        with _normal_client(edge) as meanwhile:
            head = b"POST /etl/runs HTTP/1.1\r\nHost: edge\r\nContent-Length: 100\r\n\r\n"
            lasted = _slowloris(edge_port, SLOW_BODIES, head, "127.0.0.23")
            seconds = [s for s, _ in lasted]
            refused = sum(answer.startswith(b"HTTP/1.1 413") for _, answer in lasted)
            print(
                f"{SLOW_BODIES} dripped bodies: {refused} answered 413 at once, all cut after "
                f"{min(seconds):.1f}-{max(seconds):.1f}s; {meanwhile()}"
            )

        print(
            f"RSS after: app {_rss_mib([app.pid]):.0f} MiB (before {app_before:.0f}), "
            f"nginx {_rss_mib(nginx_pids):.0f} MiB (before {nginx_before:.0f})"
        )


if __name__ == "__main__":
    main()
