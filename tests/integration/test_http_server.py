"""The API's own HTTP server (uvicorn with the settings `server_config` passes): loopback by
default, forwarded headers believed only from TRUSTED_PROXIES, idle keep-alive connections
closed, excess connections refused, no Server header. Hostile clients are the nginx edge's job
(tests/e2e/test_nginx_edge.py)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from spacex_etl.api.server import server_config
from spacex_etl.settings import Settings
from tests.local_servers import free_port

FORWARDED = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}


async def _echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers with the client address and scheme the server gave the app."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    answer = JSONResponse({"client": scope["client"][0], "scheme": scope["scheme"]})
    await answer(scope, receive, send)


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


@contextmanager
def _server(settings: Settings) -> Iterator[int]:
    port = free_port()
    server = uvicorn.Server(server_config(_echo, settings, port=port))
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


def _get(port: int, **headers: str) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{port}/", headers=headers, timeout=5)


def test_by_default_it_binds_loopback_and_believes_no_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("API_HOST", raising=False)
    monkeypatch.delenv("TRUSTED_PROXIES", raising=False)
    settings = _settings()
    assert server_config(_echo, settings, port=0).host == "127.0.0.1"
    with _server(settings) as port:
        answer = _get(port, **FORWARDED)
    # A loopback forwarder (ssh tunnel, port-forward) picks neither its address nor its scheme.
    assert answer.json() == {"client": "127.0.0.1", "scheme": "http"}


def test_a_trusted_proxy_gives_the_client_address_and_scheme() -> None:
    with _server(_settings(trusted_proxies="127.0.0.0/8")) as port:
        forwarded = _get(port, **FORWARDED)
        direct = _get(port)
    assert forwarded.json() == {"client": "203.0.113.9", "scheme": "https"}
    assert direct.json() == {"client": "127.0.0.1", "scheme": "http"}


def test_forwarded_headers_from_an_untrusted_peer_are_ignored() -> None:
    with _server(_settings(trusted_proxies="192.0.2.1")) as port:
        answer = _get(port, **FORWARDED)
    assert answer.json() == {"client": "127.0.0.1", "scheme": "http"}


def test_an_idle_kept_alive_connection_is_closed_after_keep_alive() -> None:
    with (
        _server(_settings(api_keep_alive_seconds=1)) as port,
        socket.create_connection(("127.0.0.1", port), timeout=5) as sock,
    ):
        sock.sendall(b"GET / HTTP/1.1\r\nHost: api\r\n\r\n")
        started = time.monotonic()
        sock.settimeout(4)
        received = b""
        while chunk := sock.recv(65536):  # until the server closes (or the timeout fails it)
            received += chunk
        elapsed = time.monotonic() - started

    assert received.startswith(b"HTTP/1.1 200")
    assert elapsed <= 1 + 1.5


def test_connections_beyond_the_concurrency_limit_get_503() -> None:
    with _server(_settings(api_limit_concurrency=3)) as port, ExitStack() as stack:
        for _ in range(3):  # hold three connections open
            stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=5))
        over = _get(port)
        stack.close()
        deadline = time.monotonic() + 5
        while _get(port).status_code != 200:
            assert time.monotonic() < deadline, "still refusing after the connections closed"

    assert over.status_code == 503


def test_server_header_is_not_sent() -> None:
    with _server(_settings()) as port:
        assert "server" not in _get(port).headers
