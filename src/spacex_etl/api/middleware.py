"""What every response gets from the app itself: a request id, security headers, CORS (only
when configured); and per request, HTTP metrics and one access-log line. Limits on clients
(sizes, times, rates) are the nginx edge's (deploy/nginx).

Pure ASGI middlewares (no BaseHTTPMiddleware): they add a few dict operations per request,
not a task and a stream copy each.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from asgi_correlation_id import CorrelationIdMiddleware
from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spacex_etl.api.security import ApiSecurity
from spacex_etl.observability import metrics

REQUEST_ID_HEADER = "X-Request-Id"
# What we accept from a client or proxy as its request id: nginx's $request_id (32 hex) and
# UUIDs fit; anything else (log injection, megabyte ids) is replaced by one of ours.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,128}$")
# Swagger UI and ReDoc load scripts from a CDN and run inline code: no strict CSP there.
_DOC_PATHS = ("/docs", "/redoc")

_SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), geolocation=(), microphone=()"),
]
_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
# The dashboard's page loads its stylesheet from /static and nothing else (no script at all).
_DASHBOARD_CSP = (
    b"content-security-policy",
    b"default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none';"
    b" base-uri 'none'; form-action 'none'",
)

_access_log = logging.getLogger("spacex_etl.access")


class ResponseMiddleware:
    """Security headers on every response; then its status and duration go to the HTTP
    metrics and, when `access_log`, to one log line (the request id is added by the log
    processors)."""

    def __init__(self, app: ASGIApp, *, access_log: bool) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app dies before answering
        extra = list(_SECURITY_HEADERS)
        if scope["path"] == "/":
            extra.append(_DASHBOARD_CSP)
        elif not scope["path"].startswith(_DOC_PATHS):
            extra.append(_CSP)

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            duration_s = time.perf_counter() - started
            # The route's template, not the raw path: one series per endpoint, however many ids.
            route = getattr(scope.get("route"), "path", "unmatched")
            metrics.observe_request(scope["method"], route, status, duration_s)
            if self.access_log and _access_log.isEnabledFor(logging.INFO):
                client = scope.get("client")
                _access_log.info(
                    "%s %s %d",
                    scope["method"],
                    scope["path"],
                    status,
                    extra={
                        "http_method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "client": client[0] if client else None,
                        "duration_ms": round(duration_s * 1000, 2),
                    },
                )


def install_middleware(app: FastAPI, security: ApiSecurity, *, access_log: bool = True) -> None:
    """Innermost first (Starlette wraps each new one around the previous ones): the request id
    outermost, so every answer carries one."""
    if security.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(security.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", REQUEST_ID_HEADER],
            expose_headers=[REQUEST_ID_HEADER, "Retry-After"],
            max_age=600,
        )
    app.add_middleware(ResponseMiddleware, access_log=access_log)
    app.add_middleware(
        CorrelationIdMiddleware,
        header_name=REQUEST_ID_HEADER,
        generator=lambda: uuid.uuid4().hex,
        validator=lambda request_id: _REQUEST_ID.match(request_id) is not None,
    )
