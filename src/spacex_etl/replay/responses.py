"""HTTP responses of the replay server: orjson bodies and the broken answers faults ask for."""

from __future__ import annotations

from typing import Any, assert_never

import orjson
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from .faults import (
    CannedFault,
    DamagingFault,
    GraphQLErrorFault,
    HtmlErrorFault,
    HttpStatusFault,
    MalformedJsonFault,
    TruncatedJsonFault,
)

JSON_MEDIA_TYPE = "application/json"


class OrjsonResponse(JSONResponse):
    """JSON rendered by orjson (fast on 100k-record pages); non-JSON values become strings."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=str)


class _DroppedResponse(Response):
    """Promises the whole body in Content-Length, sends half, then lets the server drop the line."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        half = self.body[: len(self.body) // 2]
        await send({"type": "http.response.body", "body": half, "more_body": True})
        # No final body message: the ASGI server sees an unfinished response and closes the
        # connection, so the client reads a short body (httpx: RemoteProtocolError).


def canned_response(fault: CannedFault) -> Response:
    """The response a fault gives instead of running the query."""
    if isinstance(fault, HttpStatusFault):
        headers = {}
        if fault.retry_after is not None:
            seconds = fault.retry_after
            headers["Retry-After"] = str(int(seconds)) if seconds.is_integer() else str(seconds)
        return Response(fault.body, fault.status, headers=headers, media_type="text/plain")
    if isinstance(fault, GraphQLErrorFault):
        return OrjsonResponse({"data": None, "errors": [{"message": fault.message}]})
    if isinstance(fault, MalformedJsonFault):
        return Response(fault.body, 200, media_type=JSON_MEDIA_TYPE)
    if isinstance(fault, HtmlErrorFault):
        return Response(fault.body, fault.status, media_type="text/html")
    assert_never(fault)


def damaged_response(fault: DamagingFault, body: bytes, status: int) -> Response:
    """The real response `body`, spoilt as the fault says."""
    if isinstance(fault, TruncatedJsonFault):
        return Response(body[: len(body) // 2], status, media_type=JSON_MEDIA_TYPE)
    return _DroppedResponse(body, status, media_type=JSON_MEDIA_TYPE)
