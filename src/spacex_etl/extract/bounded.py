"""One bounded HTTP exchange with the source: a wall-clock deadline and a size cap on the body.

httpx's own timeouts apply per phase, and its read timeout restarts with every byte: a server
that drips one byte a second never trips it. Here the whole exchange (connect, headers, body)
runs under one `asyncio.timeout`, and the body is read as a stream and decompressed here in
bounded steps, so a body larger than the cap (or a small gzip body that inflates past it) is
cut off at the cap instead of filling memory.
"""

from __future__ import annotations

import asyncio
import json
import math
import zlib
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import orjson

from spacex_etl.errors import ProtocolError, RateLimitedError, SourceError, SourceUnavailableError
from spacex_etl.settings import Settings

# Defaults of HTTP_TIMEOUT_SECONDS and HTTP_MAX_RESPONSE_BYTES (settings.py says why).
DEFAULT_REQUEST_TIMEOUT_S: float = Settings.model_fields["http_timeout_seconds"].default
DEFAULT_MAX_RESPONSE_BYTES: int = Settings.model_fields["http_max_response_bytes"].default

# How much of a non-200 body is kept for the error message.
_ERROR_BODY_CHARS = 200


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: rare enough that the backoff schedule will do


# zlib window bits per Content-Encoding httpx asks for (gzip, deflate); None: as is.
_WBITS: dict[str, int | None] = {
    "": None,
    "identity": None,
    "gzip": zlib.MAX_WBITS | 16,
    "x-gzip": zlib.MAX_WBITS | 16,
    "deflate": zlib.MAX_WBITS,
}


class _Inflater:
    """Decodes a body's Content-Encoding a bounded step at a time.

    httpx inflates each network read whole: 64 KiB of a gzip bomb becomes 64 MiB at once. Here
    no step yields more than the room left under the cap (plus one byte, to see it overflow).
    """

    def __init__(self, encoding: str, where: dict[str, Any]) -> None:
        encoding = encoding.strip().lower()
        if encoding not in _WBITS:
            raise ProtocolError(f"unsupported Content-Encoding {encoding[:40]!r}", **where)
        wbits = _WBITS[encoding]
        self._inflate = zlib.decompressobj(wbits) if wbits is not None else None
        self._where = where

    def decode(self, data: bytes, room: int) -> Iterator[bytes]:
        if self._inflate is None:
            yield data
            return
        try:
            while data:
                # max_length 0 would mean "no limit": never pass it.
                out = self._inflate.decompress(data, max(room, 0) + 1)
                room -= len(out)
                yield out
                if room < 0:
                    return
                data = self._inflate.unconsumed_tail
        except zlib.error as error:
            raise ProtocolError(f"body does not decompress: {error}", **self._where) from error


async def _read_capped(
    response: httpx.Response, max_bytes: int, where: dict[str, Any], *, stop_at_limit: bool
) -> bytes:
    """The decoded body, up to `max_bytes`: past it, the first `max_bytes` if `stop_at_limit`,
    else ProtocolError."""
    inflater = _Inflater(response.headers.get("Content-Encoding", ""), where)
    chunks: list[bytes] = []
    size = 0
    async for raw in response.aiter_raw():
        for chunk in inflater.decode(raw, max_bytes - size):
            size += len(chunk)
            chunks.append(chunk)
        if size <= max_bytes:
            continue
        if stop_at_limit:
            return b"".join(chunks)[:max_bytes]
        raise ProtocolError(
            f"response body passed the {max_bytes}-byte limit (HTTP_MAX_RESPONSE_BYTES)"
            " while reading; rest not read",
            **where,
        )
    return b"".join(chunks)


def _float_or_decimal(text: str) -> float | Decimal:
    # A number beyond a double stays exact (and unstorable as a float): its record is rejected.
    number = float(text)
    return number if math.isfinite(number) else Decimal(text)


def decode_json(body: bytes) -> Any:
    """The JSON document in `body`.

    orjson first (fast); it refuses what a source may still send inside one record: a lone
    surrogate escape, invalid UTF-8, a number beyond a double. The standard library accepts
    those (invalid UTF-8 kept as surrogates), so the document decodes and the record checks
    reject only the record that holds them. Raises ValueError when neither can decode it.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as fast_error:
        try:
            text = body.decode("utf-8", "surrogateescape")
            return json.loads(text, parse_float=_float_or_decimal)
        except (ValueError, RecursionError):
            raise ValueError(str(fast_error)) from fast_error


async def post_json(
    http: httpx.AsyncClient,
    url: str,
    body: Any,
    *,
    timeout_s: float,
    max_bytes: int,
    where: dict[str, Any],
) -> Any:
    """POST `body` as JSON and return the decoded JSON answer, within `timeout_s` in all.

    Raises SourceUnavailableError (timeout, connection, 5xx), RateLimitedError (429),
    SourceError (other non-200) or ProtocolError (too large, not JSON); `where` (entity,
    offset) goes into each error.
    """
    # httpx's per-phase timeouts still apply; none may outlast the whole exchange.
    phase_timeout = http.timeout
    if phase_timeout.read is None or phase_timeout.read > timeout_s:
        phase_timeout = httpx.Timeout(timeout_s)
    try:
        async with (
            asyncio.timeout(timeout_s),
            http.stream("POST", url, json=body, timeout=phase_timeout) as response,
        ):
            status = response.status_code
            if status == 429:
                raise RateLimitedError(
                    "rate limited", retry_after=_retry_after(response), status=status, **where
                )
            if status >= 500:
                raise SourceUnavailableError("server error", status=status, **where)
            # Only the start of an error body is shown: read no more than that.
            limit = max_bytes if status == 200 else _ERROR_BODY_CHARS
            content = await _read_capped(response, limit, where, stop_at_limit=status != 200)
    except TimeoutError as error:
        raise SourceUnavailableError(
            f"timed out: no complete response within {timeout_s:.1f}s"
            " (HTTP_TIMEOUT_SECONDS or the run budget)",
            **where,
        ) from error
    except httpx.TimeoutException as error:
        raise SourceUnavailableError(f"timed out: {error!r}", **where) from error
    except httpx.TransportError as error:
        raise SourceUnavailableError(f"connection failed: {error!r}", **where) from error
    if status != 200:
        excerpt = content.decode("utf-8", "replace")
        raise SourceError(f"unexpected status: {excerpt!r}", status=status, **where)
    try:
        return decode_json(content)
    except ValueError as error:
        content_type = response.headers.get("content-type")
        raise ProtocolError(f"body is not JSON ({content_type!r}): {error}", **where) from error
