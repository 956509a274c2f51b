"""A TCP forwarder that tests put between a client and a server to play what networks do to
long-lived connections: `freeze()` stops moving bytes without closing anything (a silent path:
a NAT or load balancer that dropped its state), `cut()` resets every connection (a killed
session), `thaw()` lets bytes move again.

It runs its own event loop in a thread, so sync and async tests use it alike. While frozen, each
direction holds at most one read chunk, so a frozen path costs bounded memory. The kernel still
acknowledges TCP keepalive probes on both legs: only an application heartbeat with a deadline
notices a frozen path (`ip netns` + `tc netem loss 100%` is the test for keepalive itself).
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Final

from sqlalchemy.engine import make_url

_CHUNK: Final = 64 * 1024
_Connect = Callable[[], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


class TcpProxy:
    """Forwards 127.0.0.1:`port` to its target while it runs."""

    def __init__(self, loop: asyncio.AbstractEventLoop, server: asyncio.Server) -> None:
        self._loop = loop
        self._server = server
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.port: int = server.sockets[0].getsockname()[1]
        self.connections = 0  # accepted since start, for tests that count reconnects

    def freeze(self) -> None:
        """Stop forwarding in both directions; every connection stays open."""
        self._call(self._flowing.clear)

    def thaw(self) -> None:
        self._call(self._flowing.set)

    def cut(self) -> None:
        """Reset every open connection (RST, as a killed session or a restarted router)."""
        self._call(self._reset_all)

    async def close(self) -> None:
        """Stop accepting, reset every connection, end every pump."""
        self._server.close()
        self._reset_all()
        await self._server.wait_closed()
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task():
                task.cancel()

    def _call(self, action: Callable[[], None]) -> None:
        done = threading.Event()

        def run() -> None:
            try:
                action()
            finally:
                done.set()

        self._loop.call_soon_threadsafe(run)
        if not done.wait(timeout=10):
            raise TimeoutError("the proxy's loop did not answer in 10 s")

    def _reset_all(self) -> None:
        for writer in list(self._writers):
            sock = writer.get_extra_info("socket")
            if sock is not None:
                # Linger 0: close() sends RST instead of FIN.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        self._writers.clear()

    async def handle(
        self,
        client_reader: asyncio.StreamReader,
        client_writer: asyncio.StreamWriter,
        connect: _Connect,
    ) -> None:
        self.connections += 1
        try:
            server_reader, server_writer = await connect()
        except OSError:
            client_writer.transport.abort()
            return
        self._writers.update((client_writer, server_writer))
        pumps = (
            asyncio.ensure_future(self._pump(client_reader, server_writer)),
            asyncio.ensure_future(self._pump(server_reader, client_writer)),
        )
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for pump in pumps:
            pump.cancel()
        for writer in (client_writer, server_writer):
            self._writers.discard(writer)
            writer.transport.abort()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with suppress(OSError, asyncio.IncompleteReadError):
            while chunk := await reader.read(_CHUNK):
                await self._flowing.wait()
                writer.write(chunk)
                await writer.drain()


@contextmanager
def tcp_proxy(target_host: str, target_port: int) -> Iterator[TcpProxy]:
    """A running proxy to the target; stopped, every connection closed, at exit."""
    with _proxy(lambda: asyncio.open_connection(target_host, target_port)) as proxy:
        yield proxy


@contextmanager
def postgres_proxy(url: str) -> Iterator[tuple[TcpProxy, str]]:
    """A proxy to the PostgreSQL server of `url` (over TCP, or its unix socket as the embedded
    server has), and the same URL through the proxy."""
    parsed = make_url(url)
    port = parsed.port or 5432
    socket_dir = parsed.query.get("host")
    if isinstance(socket_dir, str) and socket_dir.startswith("/"):
        path = Path(socket_dir) / f".s.PGSQL.{port}"
        connect: _Connect = lambda: asyncio.open_unix_connection(path)  # noqa: E731
    else:
        connect = lambda: asyncio.open_connection(parsed.host or "127.0.0.1", port)  # noqa: E731
    with _proxy(connect) as proxy:
        through = parsed.difference_update_query(["host"]).set(host="127.0.0.1", port=proxy.port)
        yield proxy, through.render_as_string(hide_password=False)


@contextmanager
def _proxy(connect: _Connect) -> Iterator[TcpProxy]:
    loop = asyncio.new_event_loop()

    async def start() -> TcpProxy:
        proxies: list[TcpProxy] = []  # the server exists before the proxy that wraps it

        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            # close() cancels the handlers; asyncio 3.11 logs a cancelled handler as an error.
            with suppress(asyncio.CancelledError):
                await proxies[0].handle(reader, writer, connect)

        server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
        proxies.append(TcpProxy(loop, server))
        return proxies[0]

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    proxy = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=10)
    try:
        yield proxy
    finally:
        asyncio.run_coroutine_threadsafe(proxy.close(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
