"""The replay app under uvicorn: blocking for the CLI, or on a background thread for tests."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import uvicorn
from starlette.types import ASGIApp

from .app import create_app
from .state import ReplayState

_STARTUP_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class ReplayServer:
    """A replay server running in this process: where it listens and the state it serves."""

    url: str
    state: ReplayState
    host: str
    port: int


def serve(sock: socket.socket, *, log_level: str = "info") -> None:
    """Serve the recorded data as the SpaceX GraphQL API on a bound socket until interrupted
    (Ctrl-C, SIGTERM). Its lines go through the process's logging set-up."""
    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(
        create_app(),
        host=host,
        port=port,
        log_level=log_level,
        log_config=None,
        lifespan="off",
        ws="none",
    )
    logging.getLogger(__name__).info("replay server on http://%s:%d/", host, port)
    uvicorn.Server(config).run(sockets=[sock])


class _SignallingServer(uvicorn.Server):
    """A uvicorn server that sets `ready` once it accepts connections."""

    def __init__(self, config: uvicorn.Config, ready: threading.Event) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self._ready.set()


def _run(server: uvicorn.Server, sock: socket.socket, ready: threading.Event) -> None:
    try:
        server.run(sockets=[sock])
    finally:
        # Also on a failed start, so the waiting thread wakes up and reports it.
        ready.set()


def _bound_socket(host: str) -> socket.socket:
    # Binding port 0 ourselves gives a free ephemeral port without a race against other tests.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    return sock


@contextmanager
def serving_in_thread(
    app: ASGIApp, host: str = "127.0.0.1", *, lifespan: Literal["on", "off"] = "on"
) -> Iterator[str]:
    """Serve any ASGI app on a free port in a background thread; yields its base URL."""
    sock = _bound_socket(host)
    port: int = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        lifespan=lifespan,
        ws="none",
        log_config=None,
        access_log=False,
        # Requests still sleeping in a latency fault must not hold up the end of a test.
        timeout_graceful_shutdown=1,
    )
    ready = threading.Event()
    server = _SignallingServer(config, ready)
    thread = threading.Thread(
        target=_run, args=(server, sock, ready), name=f"replay-server-{port}", daemon=True
    )
    thread.start()
    try:
        if not ready.wait(_STARTUP_TIMEOUT_SECONDS) or not server.started:
            raise RuntimeError(f"server on {host}:{port} did not start")
        url_host = f"[{host}]" if ":" in host else host
        yield f"http://{url_host}:{port}/"
    finally:
        server.should_exit = True
        thread.join(_STARTUP_TIMEOUT_SECONDS)
        sock.close()


@contextmanager
def running_replay_server(
    state: ReplayState | None = None, host: str = "127.0.0.1"
) -> Iterator[ReplayServer]:
    """Run a replay server on a free port in a background thread for the `with` block."""
    state = state if state is not None else ReplayState.recorded()
    with serving_in_thread(create_app(state), host, lifespan="off") as url:
        port = int(url.rstrip("/").rsplit(":", 1)[1])
        yield ReplayServer(url=url, state=state, host=host, port=port)
