"""Async GraphQL client for the SpaceX Land API: paged, explicit timeouts, typed errors, retries."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any, Final

import httpx

from spacex_etl.errors import (
    ProtocolError,
    QueryError,
    SourceError,
    SourceUnavailableError,
)
from spacex_etl.extract import queries
from spacex_etl.extract.bounded import (
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_REQUEST_TIMEOUT_S,
    post_json,
)
from spacex_etl.extract.retry import RetryPolicy, Sleep, retrying

QUERIES: Final = {
    "launches": queries.LAUNCHES,
    "missions": queries.MISSIONS,
    "rockets": queries.ROCKETS,
}


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
        request_timeout_s: float | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self._http = http
        self._url = url
        self.page_size = page_size
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        # Wall-clock limit of one whole request; by default the HTTP client's read timeout.
        self.request_timeout_s = request_timeout_s or http.timeout.read or DEFAULT_REQUEST_TIMEOUT_S
        self.max_response_bytes = max_response_bytes

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
        document = await post_json(
            self._http,
            self._url,
            body,
            timeout_s=min(self.request_timeout_s, remaining),
            max_bytes=self.max_response_bytes,
            where=where,
        )
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
