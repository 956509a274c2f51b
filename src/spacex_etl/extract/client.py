"""Async GraphQL client for the SpaceX Land API: paged, explicit timeouts, typed errors, retries."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any, Final

import httpx
import orjson

from spacex_etl.errors import (
    ProtocolError,
    QueryError,
    RateLimitedError,
    SourceError,
    SourceUnavailableError,
)
from spacex_etl.extract import queries
from spacex_etl.extract.retry import RetryPolicy, Sleep, retrying

QUERIES: Final = {
    "launches": queries.LAUNCHES,
    "missions": queries.MISSIONS,
    "rockets": queries.ROCKETS,
}


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: rare enough that the backoff schedule will do


class SpaceXClient:
    """Pages through one entity type with `limit`/`offset` until a short page."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        url: str,
        *,
        page_size: int,
        retry: RetryPolicy | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        self._http = http
        self.url = url
        self.page_size = page_size
        self.retry = retry or RetryPolicy()
        self._sleep = sleep

    async def fetch_page(self, entity: str, offset: int, *, deadline: float) -> list[Any]:
        """One page, retried on transient faults until it arrives or the deadline nears."""
        attempts = 0
        try:
            async for attempt in retrying(self.retry, deadline=deadline, sleep=self._sleep):
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    return await self._request_page(entity, offset, deadline=deadline)
        except SourceError as error:
            error.attempts = attempts
            raise
        raise AssertionError("unreachable: tenacity either returns or raises")

    async def _request_page(self, entity: str, offset: int, *, deadline: float) -> list[Any]:
        where: dict[str, Any] = {"entity": entity, "offset": offset}
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SourceUnavailableError("run time budget exhausted", **where)
        body = {"query": QUERIES[entity], "variables": {"limit": self.page_size, "offset": offset}}
        # The client's own timeout applies per phase; never wait past the run's deadline.
        timeout = self._http.timeout
        if timeout.read is None or timeout.read > remaining:
            timeout = httpx.Timeout(remaining)
        try:
            response = await self._http.post(self.url, json=body, timeout=timeout)
        except httpx.TimeoutException as error:
            raise SourceUnavailableError(f"timed out: {error!r}", **where) from error
        except httpx.TransportError as error:
            raise SourceUnavailableError(f"connection failed: {error!r}", **where) from error
        status = response.status_code
        if status == 429:
            raise RateLimitedError(
                "rate limited", retry_after=_retry_after(response), status=status, **where
            )
        if status >= 500:
            raise SourceUnavailableError("server error", status=status, **where)
        if status != 200:
            raise SourceError(f"unexpected status: {response.text[:200]!r}", status=status, **where)
        try:
            document = orjson.loads(response.content)
        except orjson.JSONDecodeError as error:
            raise ProtocolError(
                f"body is not JSON ({response.headers.get('content-type')}): {error}", **where
            ) from error
        if not isinstance(document, dict):
            raise ProtocolError("body is not a GraphQL response object", **where)
        if document.get("errors"):
            messages = "; ".join(
                str(e.get("message", e)) if isinstance(e, dict) else str(e)
                for e in document["errors"]
            )
            raise QueryError(f"GraphQL errors: {messages}", **where)
        data = document.get("data")
        page = data.get("page") if isinstance(data, dict) else None
        if not isinstance(page, list):
            raise ProtocolError("response has no list at data.page", **where)
        return page

    async def pages(self, entity: str, *, deadline: float) -> AsyncIterator[list[Any]]:
        """Every page of `entity` in order; `deadline` is a `time.monotonic()` instant."""
        offset = 0
        while True:
            page = await self.fetch_page(entity, offset, deadline=deadline)
            if page:
                yield page
            if len(page) < self.page_size:
                return
            offset += len(page)
