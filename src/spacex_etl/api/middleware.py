"""Edge safety inside the app, so it holds without nginx too: request ids, security headers,
CORS (only when configured), a per-client rate limit; and per request, HTTP metrics and one
access-log line.

Pure ASGI middlewares (no BaseHTTPMiddleware): they add a few dict operations per request,
not a task and a stream copy each.
"""

from __future__ import annotations

import logging
import math
import re
import time
import uuid

from asgi_correlation_id import CorrelationIdMiddleware
from fastapi import FastAPI
from limits import RateLimitItem, parse
from limits.aio.storage import Storage as AsyncStorage
from limits.aio.strategies import FixedWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from spacex_etl.api.security import ApiSecurity
from spacex_etl.observability import metrics

REQUEST_ID_HEADER = "X-Request-Id"
# What we accept from a client or proxy as its request id: nginx's $request_id (32 hex) and
# UUIDs fit; anything else (log injection, megabyte ids) is replaced by one of ours.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,128}$")
# Probes must never be throttled: an orchestrator would restart a healthy but busy API.
RATE_LIMIT_EXEMPT = frozenset({"/health", "/ready"})
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
_log = logging.getLogger(__name__)


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


class RateLimitMiddleware:
    """Fixed-window limit per client address, in memory or in Redis (shared by replicas).

    The client address is the one uvicorn resolved, forwarded headers included only from
    TRUSTED_PROXIES. A storage outage lets requests through (logged): losing the limit for a
    while is better than losing the API.
    """

    def __init__(self, app: ASGIApp, *, limit: str, storage_uri: str) -> None:
        self.app = app
        self.item: RateLimitItem = parse(limit)
        self.limiter = FixedWindowRateLimiter(_async_storage(storage_uri))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in RATE_LIMIT_EXEMPT:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        key = client[0] if client else "unknown"
        try:
            allowed = await self.limiter.hit(self.item, "api", key)
            reset_at = (
                None
                if allowed
                else (await self.limiter.get_window_stats(self.item, "api", key)).reset_time
            )
        except StorageError as error:
            _log.warning(
                "rate-limit storage unavailable, request let through: %r", error.storage_error
            )
            allowed, reset_at = True, None
        if allowed:
            await self.app(scope, receive, send)
            return
        retry_after = max(1, math.ceil((reset_at or time.time()) - time.time()))
        refusal = JSONResponse(
            {"detail": f"rate limit exceeded: {self.item}, retry later"},
            status_code=429,
            headers={"Retry-After": str(retry_after)},
        )
        await refusal(scope, receive, send)


def _async_storage(uri: str) -> AsyncStorage:
    if uri.startswith("memory://"):
        storage = storage_from_string("async+memory://", wrap_exceptions=True)
    else:
        # redis-py's asyncio client (a dependency); short timeouts so an outage costs little.
        storage = storage_from_string(
            f"async+{uri}",
            wrap_exceptions=True,
            implementation="redispy",
            key_prefix="spacex-etl",
            socket_timeout=0.5,
            socket_connect_timeout=0.5,
        )
    if not isinstance(storage, AsyncStorage):
        raise TypeError(f"rate limit storage for {uri.split(':', 1)[0]} is not asynchronous")
    return storage


def install_middleware(app: FastAPI, security: ApiSecurity, *, access_log: bool = True) -> None:
    """Innermost first (Starlette wraps each new one around the previous ones): the rate limit
    sits inside, so a 429 still carries a request id and the security headers."""
    if security.rate_limit:
        app.add_middleware(
            RateLimitMiddleware, limit=security.rate_limit, storage_uri=security.rate_limit_storage
        )
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
