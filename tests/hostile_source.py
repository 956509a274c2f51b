"""A hostile GraphQL source for tests: the replay server's real answers, except for the
entity types a test arms with a hostile response (slow drip, oversize body, gzip bomb, a
tampered page). A real ASGI app, served over loopback HTTP by `serving_in_thread`."""

from __future__ import annotations

import asyncio
import json
import threading
import zlib
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spacex_etl.entities import ENTITIES
from spacex_etl.extract.queries import page_query, whole_list_query
from spacex_etl.replay import ReplayState
from spacex_etl.replay.server import create_app, serving_in_thread

# Given the real answer (a call away), send a hostile one.
Responder = Callable[[Callable[[], Awaitable[bytes]], Send], Awaitable[None]]

_JSON = [(b"content-type", b"application/json")]


def _entity_of(body: bytes) -> str | None:
    try:
        query = json.loads(body).get("query")
    except ValueError:
        return None
    return next(
        (e for e in ENTITIES if query in (page_query(e), whole_list_query(e))),
        None,
    )


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


@dataclass
class HostileSource:
    """The ASGI app; `arm(entity, responder)` makes that entity's requests hostile."""

    inner: ASGIApp
    armed: dict[str, Responder] = field(default_factory=dict)
    hostile_requests: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))

    def arm(self, entity: str, responder: Responder) -> None:
        self.armed[entity] = responder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        body = await _read_body(receive)

        async def replayed() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        responder = self.armed.get(_entity_of(body) or "")
        if responder is None:
            await self.inner(scope, replayed, send)
            return

        async def real_answer() -> bytes:
            sent: list[bytes] = []

            async def collect(message: Message) -> None:
                sent.append(message.get("body", b""))

            await self.inner(scope, replayed, collect)
            return b"".join(sent)

        self.hostile_requests.release()
        await responder(real_answer, send)


async def _start(send: Send, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": headers or _JSON})


def drip(byte_every_s: float = 1.0, total_bytes: int = 600) -> Responder:
    """A valid start of a body, then one byte every `byte_every_s`: never a whole answer."""

    async def respond(_real_answer: Callable[[], Awaitable[bytes]], send: Send) -> None:
        await _start(send)
        for _ in range(total_bytes):
            await send({"type": "http.response.body", "body": b" ", "more_body": True})
            await asyncio.sleep(byte_every_s)
        await send({"type": "http.response.body", "body": b"{}"})

    return respond


def oversize(total_bytes: int) -> Responder:
    """A JSON body of `total_bytes`, streamed in 1 MiB chunks without Content-Length."""
    chunk = b" " * 2**20

    async def respond(_real_answer: Callable[[], Awaitable[bytes]], send: Send) -> None:
        await _start(send)
        await send(
            {"type": "http.response.body", "body": b'{"data": {"page": [', "more_body": True}
        )
        for _ in range(total_bytes // len(chunk)):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"]}}"})

    return respond


@cache
def _gzip_bomb(inflated_bytes: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: gzip framing
    parts = [compressor.compress(b'{"data": {"page": [')]
    chunk = b" " * 2**20
    parts += [compressor.compress(chunk) for _ in range(inflated_bytes // len(chunk))]
    parts += [compressor.compress(b"]}}"), compressor.flush()]
    return b"".join(parts)


def gzip_bomb(inflated_bytes: int) -> Responder:
    """A small gzip body (about 1/1000 of it) that inflates to `inflated_bytes` of JSON."""
    body = _gzip_bomb(inflated_bytes)
    headers = [*_JSON, (b"content-encoding", b"gzip"), (b"content-length", b"%d" % len(body))]

    async def respond(_real_answer: Callable[[], Awaitable[bytes]], send: Send) -> None:
        await _start(send, headers)
        await send({"type": "http.response.body", "body": body})

    return respond


def gzipped() -> Responder:
    """The real answer, gzip-compressed, as a well-behaved server may send it."""

    async def respond(real_answer: Callable[[], Awaitable[bytes]], send: Send) -> None:
        compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
        body = compressor.compress(await real_answer()) + compressor.flush()
        await _start(send, [*_JSON, (b"content-encoding", b"gzip")])
        await send({"type": "http.response.body", "body": body})

    return respond


def raw(body: bytes) -> Responder:
    """Exactly `body`, as a 200 JSON answer."""

    async def respond(_real_answer: Callable[[], Awaitable[bytes]], send: Send) -> None:
        await _start(send)
        await send({"type": "http.response.body", "body": body})

    return respond


def tampered(change: Callable[[dict[str, Any]], None], *, replace: bytes = b"") -> Responder:
    """The real answer, its first one with `change` applied to the document, written by the
    standard library (which keeps lone surrogates as escapes); then, if given, `replace` =
    b"old=>new" on the raw bytes, for what no JSON encoder writes (invalid UTF-8, 1e400)."""

    answered = 0

    async def respond(real_answer: Callable[[], Awaitable[bytes]], send: Send) -> None:
        nonlocal answered
        answered += 1
        document = json.loads(await real_answer())
        if answered == 1:
            change(document)
        body = json.dumps(document).encode()
        if replace:
            old, new = replace.split(b"=>")
            body = body.replace(old, new)
        await raw(body)(real_answer, send)

    return respond


@contextmanager
def serving_hostile(state: ReplayState) -> Iterator[tuple[str, HostileSource]]:
    """A hostile source over `state` on a free loopback port: (its URL, the app)."""
    app = HostileSource(create_app(state))
    with serving_in_thread(app, lifespan="off") as url:
        yield url, app
