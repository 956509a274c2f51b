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

from spacex_etl.entities import Entity
from spacex_etl.errors import (
    ProtocolError,
    QueryError,
    SourceError,
    SourceUnavailableError,
)
from spacex_etl.extract.bounded import (
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_REQUEST_TIMEOUT_S,
    post_json,
)
from spacex_etl.extract.queries import page_query, whole_list_query
from spacex_etl.extract.retry import RetryPolicy, Sleep, retrying
from spacex_etl.observability.tracing import tracer

_log = logging.getLogger(__name__)

# GraphQL error text kept per distinct warning, and distinct warnings kept per list.
_WARNING_CHARS = 300
_MAX_WARNINGS = 20
_INDEX = re.compile(r"\.\d+(?=\.|$)")


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
        """One page (the whole list when `offset` is None), traced, its warnings counted."""
        self.requests += 1
        attributes: dict[str, str | int | bool] = {"etl.entity": self._entity}
        attributes.update({"etl.whole_list": True} if offset is None else {"etl.offset": offset})
        with tracer.start_as_current_span("etl.extract.page", attributes=attributes) as span:
            records, warnings = await self._client.fetch_page(
                self._entity, offset, deadline=self._deadline
            )
            span.set_attribute("etl.records", len(records))
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
        request_timeout_s: float | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self._http = http
        self.url = url
        self.page_size = page_size
        self.max_records = max_records
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        # Wall-clock limit of one whole request; by default the HTTP client's read timeout.
        self.request_timeout_s = request_timeout_s or http.timeout.read or DEFAULT_REQUEST_TIMEOUT_S
        self.max_response_bytes = max_response_bytes

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
        """One POST, answered within its time and size bounds by a JSON document, or a typed
        error (see `bounded.post_json`)."""
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
        return await post_json(
            self._http,
            self.url,
            body,
            timeout_s=min(self.request_timeout_s, remaining),
            max_bytes=self.max_response_bytes,
            where=where,
        )


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
