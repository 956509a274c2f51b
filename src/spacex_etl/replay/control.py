"""A small synchronous client for the control endpoints of a replay server, in any process."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any, cast

import httpx
import orjson
from pydantic import BaseModel

from spacex_etl.entities import Entity

from .faults import Fault
from .state import RequestCounts


class ReplayControl:
    """Drives a replay server at `url` over HTTP; raises httpx.HTTPStatusError on refusals."""

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        self._client = httpx.Client(base_url=url, timeout=timeout)

    def __enter__(self) -> ReplayControl:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        # orjson: 100k launch records are over 100 MB of JSON, slow work for the json module.
        content = None if body is None else orjson.dumps(body)
        headers = {} if body is None else {"content-type": "application/json"}
        response = self._client.request(method, path, content=content, headers=headers)
        response.raise_for_status()
        return response.json()

    def set_data(self, entity: Entity, records: Iterable[Mapping[str, Any]]) -> None:
        """Serve these v3 records for `entity` instead of the current ones."""
        self._call("PUT", f"/_replay/data/{entity}", [dict(record) for record in records])

    def add_fault(self, fault: Fault | Mapping[str, Any]) -> dict[str, Any]:
        """Append a fault; returns it as the server stored it (defaults filled in)."""
        body = fault.model_dump(mode="json") if isinstance(fault, BaseModel) else dict(fault)
        return cast(dict[str, Any], self._call("POST", "/_replay/faults", body))

    def faults(self) -> list[dict[str, Any]]:
        return cast(list[dict[str, Any]], self._call("GET", "/_replay/faults"))

    def clear_faults(self) -> None:
        self._call("DELETE", "/_replay/faults")

    def reset(self) -> None:
        """Recorded data back, no faults, counters at zero."""
        self._call("POST", "/_replay/reset")

    def requests(self) -> RequestCounts:
        return cast(RequestCounts, self._call("GET", "/_replay/requests"))
