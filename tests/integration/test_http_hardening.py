"""The API's own HTTP server against hostile clients: huge headers, slowloris, idle and
excess connections are refused or cut in bounded time while normal requests keep working."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import httpx
import pytest
import uvicorn

from spacex_etl.api import create_app
from spacex_etl.api.server import ServerLimits, server_config
from spacex_etl.db.database import Database
from tests.local_servers import free_port

LIMITS = ServerLimits(
    max_header_bytes=32 * 1024, header_timeout_s=1.0, keep_alive_s=1, limit_concurrency=40
)
REQUEST_HEAD = b"GET /health HTTP/1.1\r\nHost: api\r\n"


@contextmanager
def _server(limits: ServerLimits) -> Iterator[int]:
    # /health touches no database: an engine that never connects is enough.
    app = create_app(Database("postgresql://nobody@127.0.0.1:9/none").engine, stale_after_s=180)
    port = free_port()
    server = uvicorn.Server(
        server_config(app, host="127.0.0.1", port=port, limits=limits, trusted_proxies="")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        assert thread.is_alive(), "server thread died"
        time.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    with _server(LIMITS) as port:
        yield port


def _healthy(port: int) -> bool:
    return httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200


def _read_until_closed(sock: socket.socket, timeout_s: float) -> bytes:
    """Everything the server sends until it closes the connection (or `timeout_s` passes)."""
    sock.settimeout(timeout_s)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except (ConnectionResetError, TimeoutError):
        pass  # reset: closed; timeout: not closed, which the caller's assertions report
    return received


def test_a_1_mib_header_is_refused_and_normal_requests_work(port: int) -> None:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sent = 0
        payload = REQUEST_HEAD + b"X-Big: " + b"a" * (1024 * 1024)
        try:
            while sent < len(payload):
                sent += sock.send(payload[sent : sent + 65536])
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server hung up mid-send: refused
        answer = _read_until_closed(sock, 5)

    assert sent < len(payload) or answer.startswith(b"HTTP/1.1 431")
    assert b" 200 " not in answer
    assert time.monotonic() - started < 5
    assert _healthy(port)
    near_limit = httpx.get(
        f"http://127.0.0.1:{port}/health", headers={"X-Fine": "a" * 16_000}, timeout=5
    )
    assert near_limit.status_code == 200


def test_a_slowloris_connection_is_cut_within_the_header_timeout(port: int) -> None:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(REQUEST_HEAD)
        cut_after = None
        for n in range(40):  # one header line every 0.1 s, never the blank line
            try:
                sock.sendall(f"X-Slow-{n}: a\r\n".encode())
            except (BrokenPipeError, ConnectionResetError):
                cut_after = time.monotonic() - started
                break
            sock.settimeout(0.1)
            try:
                answer = sock.recv(4096)
            except TimeoutError:
                continue
            cut_after = time.monotonic() - started
            assert answer == b"" or answer.startswith(b"HTTP/1.1 408")
            break
        # A normal client is served while the slow one is still connected.
        assert cut_after is not None or _healthy(port)

    assert cut_after is not None, "the slow connection was never cut"
    assert LIMITS.header_timeout_s - 0.2 <= cut_after <= LIMITS.header_timeout_s + 1.5
    assert _healthy(port)


def test_many_slow_connections_are_all_cut_and_the_server_recovers(port: int) -> None:
    with ExitStack() as stack:
        socks = [
            stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=5))
            for _ in range(30)
        ]
        for sock in socks:
            sock.sendall(REQUEST_HEAD)
        started = time.monotonic()
        closed = [_read_until_closed(sock, LIMITS.header_timeout_s + 2) for sock in socks]
        elapsed = time.monotonic() - started

    assert all(answer.startswith(b"HTTP/1.1 408") for answer in closed)
    assert elapsed <= LIMITS.header_timeout_s + 2
    assert _healthy(port)


def test_an_idle_kept_alive_connection_is_closed_after_keep_alive(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(REQUEST_HEAD + b"\r\n")
        started = time.monotonic()
        answer = _read_until_closed(sock, LIMITS.keep_alive_s + 3)
        elapsed = time.monotonic() - started

    assert answer.startswith(b"HTTP/1.1 200")
    assert elapsed <= LIMITS.keep_alive_s + 1.5


def test_connections_beyond_the_concurrency_limit_get_503() -> None:
    limits = ServerLimits(header_timeout_s=5.0, limit_concurrency=3)
    with _server(limits) as port, ExitStack() as stack:
        for _ in range(3):  # hold three connections open
            stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=5))
        over = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
        stack.close()
        deadline = time.monotonic() + 5
        while not _healthy(port):
            assert time.monotonic() < deadline, "still refusing after the connections closed"

    assert over.status_code == 503


def test_server_header_is_not_sent(port: int) -> None:
    assert "server" not in httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).headers
