"""Async GraphQL client for the SpaceX API: paged, proven complete, explicit timeouts, retries.

The live server has shipped broken paging before (`limit`/`offset` answering an empty page in
the middle of the list, or ignoring both), so a list counts as complete only when its end is
certain; anything else is settled with one whole-list request. See `ListExtraction`.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson

from spacex_etl.entities import Entity
from spacex_etl.errors import (
    ProtocolError,
    QueryError,
    RateLimitedError,
    SourceError,
    SourceUnavailableError,
)
from spacex_etl.extract.queries import page_query, whole_list_query
from spacex_etl.extract.retry import RetryPolicy, Sleep, retrying

_log = logging.getLogger(__name__)

# GraphQL error text kept per distinct warning, and distinct warnings kept per list.
_WARNING_CHARS = 300
_MAX_WARNINGS = 20
_INDEX = re.compile(r"\.\d+(?=\.|$)")


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: rare enough that the backoff schedule will do


def _describe(error: Any) -> str:
    """One GraphQL error as a warning line; list indices dropped so that one broken field on
    every record reads as one warning with a count, not one per record."""
    if not isinstance(error, dict):
        return str(error)[:_WARNING_CHARS]
    message = str(error.get("message", error))
    path = error.get("path")
    if isinstance(path, list) and path:
        where = _INDEX.sub("[]", ".".join(str(part) for part in path))
        message = f"{where}: {message}"
    return message[:_WARNING_CHARS]


class ListExtraction:
    """The pages of one entity's list, and what fetching them proved.

    Iterate it for the records, page by page; afterwards `complete` says whether the list is
    proven whole (only then may vanished records be tombstoned), `requests` how many round
    trips it took and `warnings` the GraphQL errors that came with data, counted by message.
    """

    def __init__(self, client: SpaceXClient, entity: Entity, deadline: float) -> None:
        self._client = client
        self._entity = entity
        self._deadline = deadline
        self.complete = False
        self.requests = 0
        self.warnings: Counter[str] = Counter()

    def warning_summary(self) -> dict[str, int]:
        """The warnings, most frequent first, at most `_MAX_WARNINGS` distinct ones."""
        kept = dict(self.warnings.most_common(_MAX_WARNINGS))
        if hidden := len(self.warnings) - len(kept):
            kept[f"... and {hidden} more distinct warnings"] = sum(
                count for message, count in self.warnings.items() if message not in kept
            )
        return kept

    async def _fetch(self, offset: int | None) -> list[Any]:
        self.requests += 1
        records, warnings = await self._client.fetch_page(
            self._entity, offset, deadline=self._deadline
        )
        self.warnings.update(_describe(error) for error in warnings)
        return records

    async def __aiter__(self) -> AsyncIterator[list[Any]]:
        page_size, max_records = self._client.page_size, self._client.max_records
        offset = 0
        previous_ids: list[Any] | None = None
        while True:
            page = await self._fetch(offset)
            ids = [record.get("id") if isinstance(record, dict) else None for record in page]
            if len(page) > page_size or (page and ids == previous_ids):
                again = " again" if ids == previous_ids else ""
                unproven = f"paging not honoured (asked {page_size} at offset {offset}, got "
                unproven += f"{len(page)}{again})"
                break
            if not page and offset > 0:
                # The end, or a server answering [] mid-list (the 2023 slice bug): can't tell.
                unproven = f"an empty page at offset {offset} right after a full one"
                break
            # Every full page adds records, so this bound also ends any endless paging.
            if offset + len(page) > max_records:
                raise self._too_many(f"more than {max_records} records")
            if page:
                yield page
            if len(page) < page_size:
                self.complete = True
                return
            offset += len(page)
            previous_ids = ids
        _log.warning("%s: %s; verifying with a whole-list request", self._entity, unproven)
        whole = await self._fetch(None)
        if len(whole) > max_records:
            raise self._too_many(f"the whole list has {len(whole)} records")
        if whole:
            yield whole
        self.complete = True

    def _too_many(self, what: str) -> ProtocolError:
        limit = self._client.max_records
        return ProtocolError(
            f"{what}, over the limit of {limit} (SOURCE_MAX_RECORDS)", entity=self._entity
        )


class SpaceXClient:
    """Fetches the lists of the SpaceX GraphQL API: `extract()` one entity type at a time."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        url: str,
        *,
        page_size: int,
        max_records: int = 2_000_000,
        retry: RetryPolicy | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        self._http = http
        self.url = url
        self.page_size = page_size
        self.max_records = max_records
        self.retry = retry or RetryPolicy()
        self._sleep = sleep

    def extract(self, entity: Entity, *, deadline: float) -> ListExtraction:
        """The pages of `entity`; `deadline` is a `time.monotonic()` instant."""
        return ListExtraction(self, entity, deadline)

    async def fetch_page(
        self, entity: Entity, offset: int | None, *, deadline: float
    ) -> tuple[list[Any], list[Any]]:
        """One page (the whole list when `offset` is None) and the GraphQL errors that came
        with it, retried on transient faults until it arrives or the deadline nears."""
        attempts = 0
        try:
            async for attempt in retrying(self.retry, deadline=deadline, sleep=self._sleep):
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    document = await self._request(entity, offset, deadline=deadline)
                    return _page_of(document, entity, offset)
        except SourceError as error:
            error.attempts = attempts
            raise
        raise AssertionError("unreachable: tenacity either returns or raises")

    async def _request(self, entity: Entity, offset: int | None, *, deadline: float) -> Any:
        """One POST, answered by a JSON document or a typed error."""
        where: dict[str, Any] = {"entity": entity, "offset": offset}
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SourceUnavailableError("run time budget exhausted", **where)
        if offset is None:
            body: dict[str, Any] = {"query": whole_list_query(entity)}
        else:
            body = {
                "query": page_query(entity),
                "variables": {"limit": self.page_size, "offset": offset},
            }
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
            return orjson.loads(response.content)
        except orjson.JSONDecodeError as error:
            raise ProtocolError(
                f"body is not JSON ({response.headers.get('content-type')}): {error}", **where
            ) from error


def _page_of(document: Any, entity: Entity, offset: int | None) -> tuple[list[Any], list[Any]]:
    """The records at `data.page` and the errors beside them.

    GraphQL answers a broken field with `errors` *and* the rest of the data: the records are
    kept and the errors become warnings. Only an answer without the list fails.
    """
    where: dict[str, Any] = {"entity": entity, "offset": offset}
    if not isinstance(document, dict):
        raise ProtocolError("body is not a GraphQL response object", **where)
    errors = document.get("errors") or []
    if not isinstance(errors, list):
        errors = [errors]
    data = document.get("data")
    page = data.get("page") if isinstance(data, dict) else None
    if isinstance(page, list):
        return page, errors
    if errors:
        messages = "; ".join(sorted({_describe(error) for error in errors}))
        raise QueryError(f"GraphQL errors: {messages[: _WARNING_CHARS * 3]}", **where)
    raise ProtocolError("response has no list at data.page", **where)
