"""Browse responses with an ETag: kept in memory for one data version, revalidated by 304.

The data changes only when a load commits, and every such commit sends the NOTIFY the data
mart's in-memory copy follows (`UrlCountCache.version` moves with each). A response body is
therefore valid until the version moves: a repeated request (same path and query string) is
answered from memory by `AnswersFromMemory` before FastAPI parses it, and a client holding the
ETag gets a 304. While no listener is connected (start-up, an outage, the
bare app of the tests) nothing is kept and every request reads the database.

Bodies are also kept gzipped, compressed once per version: a page of 50 launches is ~100 KB of
JSON (mostly URLs) and ~10 KB gzipped, and clients that accept gzip (browsers, curl
--compressed, httpx, requests) get that. The two representations have distinct ETags.
"""

from __future__ import annotations

import gzip
import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.datastructures import State
from starlette.types import ASGIApp, Receive, Scope, Send

from spacex_etl.api.deps import get_engine

# Revalidate on every use: the ETag makes that a 304 without a body, answered from memory.
CACHE_CONTROL = "public, no-cache"
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
# Below this, gzip saves too little to be worth a header and the client's inflating.
_GZIP_FROM_BYTES = 1024
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: the `If-None-Match` ETag is still current."}
}


@dataclass(frozen=True, slots=True)
class CachedBody:
    body: bytes
    etag: str
    gzipped: bytes | None  # None when the body is too small to gain from it

    @classmethod
    def of(cls, body: bytes) -> CachedBody:
        digest = hashlib.blake2b(body, digest_size=16).hexdigest()
        small = len(body) < _GZIP_FROM_BYTES
        return cls(body, f'"{digest}"', None if small else gzip.compress(body, 6, mtime=0))

    @property
    def gzip_etag(self) -> str:
        return self.etag[:-1] + '-gzip"'

    @property
    def size(self) -> int:
        return len(self.body) + len(self.gzipped or b"")


class ResponseCache:
    """Bodies by request key for the current data version; least recently used go first
    once they hold more than `max_bytes`."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._max_bytes = max_bytes
        self._bytes = 0
        self._version: int | None = None
        self._entries: OrderedDict[Hashable, CachedBody] = OrderedDict()

    def _at(self, version: int) -> bool:
        """Move to `version` (dropping what older data gave); False if `version` is older."""
        if self._version is not None and version < self._version:
            return False
        if version != self._version:
            self._entries.clear()
            self._bytes = 0
            self._version = version
        return True

    def get(self, key: Hashable, version: int) -> CachedBody | None:
        if not self._at(version):
            return None
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: Hashable, version: int, entry: CachedBody) -> None:
        # A body read before the data moved on is not kept for the newer version.
        if not self._at(version) or entry.size > self._max_bytes or key in self._entries:
            return
        self._entries[key] = entry
        self._bytes += entry.size
        while self._bytes > self._max_bytes:
            _, dropped = self._entries.popitem(last=False)
            self._bytes -= dropped.size


def data_version(state: State) -> int | None:
    """The committed data's version while the app follows the loads' NOTIFYs, else None."""
    follower = state.url_counts
    return follower.version if follower is not None else None


def _matches(if_none_match: str | None, entry: CachedBody) -> bool:
    if if_none_match is None:
        return False
    if if_none_match.strip() == "*":
        return True
    # Weak comparison (RFC 9110 §13.1.2): a W/ prefix does not matter for GET; and either
    # representation's tag shows the client holds this content.
    current = {entry.etag, entry.gzip_etag}
    return any(tag.strip().removeprefix("W/") in current for tag in if_none_match.split(","))


def _accepts_gzip(accept_encoding: str | None) -> bool:
    for coding in (accept_encoding or "").split(","):
        name, _, params = coding.partition(";")
        if name.strip().lower() in ("gzip", "*"):
            quality = params.strip().lower().removeprefix("q=").strip()
            try:
                return not quality or float(quality) > 0
            except ValueError:
                return False
    return False


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def _field(raw: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    """A request header's value: its field lines joined with commas (RFC 9110 §5.3)."""
    values = [value for key, value in raw if key == name]
    return b", ".join(values).decode("latin-1") if values else None


def _answer(entry: CachedBody, raw: Iterable[tuple[bytes, bytes]]) -> _Answer:
    """What to send for `entry` given the request's headers: 304 if the client holds it, else
    the body, gzipped if welcome."""
    if_none_match, accept_encoding = _field(raw, b"if-none-match"), _field(raw, b"accept-encoding")
    zipped = entry.gzipped is not None and _accepts_gzip(accept_encoding)
    headers = {
        "etag": entry.gzip_etag if zipped else entry.etag,
        "cache-control": CACHE_CONTROL,
        "vary": "Accept-Encoding",
    }
    if _matches(if_none_match, entry):
        return _Answer(304, headers, b"")
    headers["content-type"] = "application/json"
    if zipped and entry.gzipped is not None:
        headers["content-encoding"] = "gzip"
        return _Answer(200, headers, entry.gzipped)
    return _Answer(200, headers, entry.body)


async def json_with_etag(
    request: Request, produce: Callable[[AsyncConnection], Awaitable[BaseModel]]
) -> Response:
    """`produce`'s JSON with ETag and Cache-Control; kept for the data version, by path and
    query string, for `AnswersFromMemory` to serve the next time."""
    cache: ResponseCache = request.app.state.response_cache
    version = data_version(request.app.state)
    key = (request.scope["path"], request.scope["query_string"])
    entry = cache.get(key, version) if version is not None else None
    if entry is None:
        async with get_engine(request).connect() as conn:
            body = (await produce(conn)).model_dump_json().encode()
        entry = CachedBody.of(body)
        if version is not None:
            cache.put(key, version, entry)
    answer = _answer(entry, request.scope["headers"])
    return Response(answer.body, status_code=answer.status, headers=answer.headers)


class AnswersFromMemory:
    """ASGI middleware: a GET or HEAD already answered at the current data version is answered
    from memory before FastAPI routes and validates it, so a hit costs about what `/health`
    does (the data mart's route skips dependency injection for the same reason). Only browse
    routes store answers, and only well-formed requests reach them, so a hit is a request that
    was valid before."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            state = scope["app"].state
            version = data_version(state)
            if version is not None:
                cache: ResponseCache = state.response_cache
                entry = cache.get((scope["path"], scope["query_string"]), version)
                if entry is not None:
                    await self._send(entry, scope, send)
                    return
        await self.app(scope, receive, send)

    @staticmethod
    async def _send(entry: CachedBody, scope: Scope, send: Send) -> None:
        answer = _answer(entry, scope["headers"])
        raw = [(name.encode(), value.encode()) for name, value in answer.headers.items()]
        if answer.status == 200:
            raw.append((b"content-length", str(len(answer.body)).encode()))
        await send({"type": "http.response.start", "status": answer.status, "headers": raw})
        body = answer.body if scope["method"] == "GET" else b""
        await send({"type": "http.response.body", "body": body})
