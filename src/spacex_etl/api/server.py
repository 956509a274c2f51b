"""uvicorn, hardened for clients that are not nice: bounded request headers, a deadline to
send them, keep-alive and concurrency limits.

uvicorn's httptools protocol bounds neither the size of request headers nor the time a client
may take to send them (its keep-alive timer only runs between requests): a client could
park megabytes per connection, or hold thousands of connections open by trickling a header
line now and then (slowloris). The protocol below adds both bounds, answering 431 or 408
and closing the connection.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from spacex_etl.settings import Settings


@dataclass(frozen=True, slots=True)
class ServerLimits:
    max_header_bytes: int = 32 * 1024  # nginx's default allows 4 x 8 KiB header lines
    header_timeout_s: float = 10.0  # from connect (or a request's first byte) to its last header
    keep_alive_s: int = 5  # idle time between requests on one connection
    # Open connections + requests in flight; beyond it new requests get 503. It counts
    # connections still sending headers too, so it sits well above what slow clients can hold
    # open within header_timeout_s; each holds at most max_header_bytes (+ one read).
    limit_concurrency: int | None = 4096
    backlog: int = 2048


class HardenedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header size limit and a header read deadline."""

    limits = ServerLimits()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_bytes = 0
        self._awaiting_headers = True
        self._header_timer: asyncio.TimerHandle | None = self.loop.call_later(
            self.limits.header_timeout_s, self._header_timeout
        )

    def data_received(self, data: bytes) -> None:
        if self._awaiting_headers:
            self._header_bytes += len(data)
        super().data_received(data)
        # Checked after parsing, so a chunk that completes the headers and carries a body
        # never counts against them; what is held at most is the limit plus one read.
        if self._awaiting_headers and self._header_bytes > self.limits.max_header_bytes:
            self._refuse(b"431 Request Header Fields Too Large", "request headers too large")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._awaiting_headers = True
        if self._header_timer is None:  # the next request on a kept-alive connection
            self._header_timer = self.loop.call_later(
                self.limits.header_timeout_s, self._header_timeout
            )

    def on_headers_complete(self) -> None:
        self._awaiting_headers = False
        self._header_bytes = 0
        self._cancel_header_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timeout(self) -> None:
        self._header_timer = None
        if self._awaiting_headers:
            self._refuse(b"408 Request Timeout", "request headers not received in time")

    def _refuse(self, status: bytes, message: str) -> None:
        if self.transport.is_closing():
            return
        self._cancel_header_timer()
        body = message.encode()
        self.transport.write(
            b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body
        )
        self.transport.close()


def server_config(
    app: ASGIApp,
    *,
    host: str,
    port: int,
    limits: ServerLimits,
    trusted_proxies: str,
    log_level: str = "info",
) -> uvicorn.Config:
    """uvicorn on uvloop + httptools (named, so a missing wheel fails loudly), hardened."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        # uvicorn instantiates the protocol per connection: a subclass bound to `limits`.
        http=type("HardenedHttpTools", (HardenedHttpToolsProtocol,), {"limits": limits}),
        # For h11 (not used here, but bounded alike should anyone switch).
        h11_max_incomplete_event_size=limits.max_header_bytes,
        timeout_keep_alive=limits.keep_alive_s,
        limit_concurrency=limits.limit_concurrency,
        backlog=limits.backlog,
        # The client address comes from X-Forwarded-For only when the peer is a trusted proxy.
        proxy_headers=True,
        forwarded_allow_ips=trusted_proxies,
        server_header=False,
        access_log=False,  # the app logs each request itself, with its request id
        log_config=None,  # uvicorn's loggers go through the app's logging set-up
        log_level=log_level,
    )


def serve(app: ASGIApp, settings: Settings, sock: socket.socket) -> None:
    """Serve `app` on `sock` (bound to API_HOST:API_PORT) with the configured bounds, until
    SIGTERM / Ctrl-C."""
    limits = ServerLimits(
        max_header_bytes=settings.api_max_header_bytes,
        header_timeout_s=settings.api_header_timeout_seconds,
        keep_alive_s=settings.api_keep_alive_seconds,
        limit_concurrency=settings.api_limit_concurrency or None,
    )
    config = server_config(
        app,
        host=settings.api_host,
        port=sock.getsockname()[1],
        limits=limits,
        trusted_proxies=settings.trusted_proxies,
        log_level=settings.log_level.lower(),
    )
    uvicorn.Server(config).run(sockets=[sock])
