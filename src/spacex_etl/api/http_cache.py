"""Browse responses with an ETag: kept in memory for one data version, revalidated by 304.

The data changes only when a load commits, and every such commit sends the NOTIFY the data
mart's in-memory copy follows (`UrlCountCache.version` moves with each). A response body is
therefore valid until the version moves: repeated requests are answered from memory, and a
client holding the ETag gets a 304. While no listener is connected (start-up, an outage, the
bare app of the tests) nothing is kept and every request reads the database.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection

from spacex_etl.api.deps import get_engine

# Revalidate on every use: the ETag makes that a 304 without a body, answered from memory.
CACHE_CONTROL = "public, no-cache"
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: the `If-None-Match` ETag is still current."}
}


@dataclass(frozen=True, slots=True)
class CachedBody:
    body: bytes
    etag: str


def etag_of(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


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
        if not self._at(version) or len(entry.body) > self._max_bytes or key in self._entries:
            return
        self._entries[key] = entry
        self._bytes += len(entry.body)
        while self._bytes > self._max_bytes:
            _, dropped = self._entries.popitem(last=False)
            self._bytes -= len(dropped.body)


def data_version(request: Request) -> int | None:
    """The committed data's version while the app follows the loads' NOTIFYs, else None."""
    follower = request.app.state.url_counts
    return follower.version if follower is not None else None


def _matches(if_none_match: str | None, etag: str) -> bool:
    if if_none_match is None:
        return False
    if if_none_match.strip() == "*":
        return True
    # Weak comparison (RFC 9110 §13.1.2): a W/ prefix does not matter for GET.
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))


async def json_with_etag(
    request: Request,
    key: Hashable,
    produce: Callable[[AsyncConnection], Awaitable[BaseModel]],
) -> Response:
    """`produce`'s JSON with ETag and Cache-Control, from memory when the data has not moved;
    304 when the client's `If-None-Match` already names it."""
    cache: ResponseCache = request.app.state.response_cache
    version = data_version(request)
    entry = cache.get(key, version) if version is not None else None
    if entry is None:
        # A connection only on a miss: a hit costs no database round trip.
        async with get_engine(request).connect() as conn:
            body = (await produce(conn)).model_dump_json().encode()
        entry = CachedBody(body, etag_of(body))
        if version is not None:
            cache.put(key, version, entry)
    headers = {"ETag": entry.etag, "Cache-Control": CACHE_CONTROL}
    if _matches(request.headers.get("if-none-match"), entry.etag):
        return Response(status_code=304, headers=headers)
    return Response(entry.body, media_type="application/json", headers=headers)


def get_and_head(router: APIRouter, path: str, **options: Any) -> Callable[[Any], Any]:
    """Register a GET route, and HEAD on the same endpoint (left out of the OpenAPI)."""

    def register(endpoint: Any) -> Any:
        router.add_api_route(path, endpoint, methods=["GET"], **options)
        router.add_api_route(path, endpoint, methods=["HEAD"], include_in_schema=False)
        return endpoint

    return register
