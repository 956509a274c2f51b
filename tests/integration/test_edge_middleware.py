"""What the app adds to every response: request ids, security headers, CORS."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from spacex_etl.api import create_app
from spacex_etl.api.security import ApiSecurity
from tests.asgi import asgi_client


@pytest.fixture
async def api(engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(create_app(engine, stale_after_s=180)) as client:
        yield client


async def test_every_response_carries_a_request_id(api: httpx.AsyncClient) -> None:
    generated = await api.get("/health")
    kept = await api.get("/health", headers={"X-Request-Id": "0123456789abcdef0123456789abcdef"})
    hostile = await api.get("/health", headers={"X-Request-Id": "x\tinjected" + "a" * 300})
    missing = await api.get("/no/such/path")

    assert len(generated.headers["X-Request-Id"]) == 32
    assert kept.headers["X-Request-Id"] == "0123456789abcdef0123456789abcdef"
    assert "injected" not in hostile.headers["X-Request-Id"]
    assert len(hostile.headers["X-Request-Id"]) == 32
    assert missing.status_code == 404
    assert missing.headers["X-Request-Id"] != generated.headers["X-Request-Id"]


async def test_security_headers_on_every_response(api: httpx.AsyncClient) -> None:
    for path in ("/health", "/data_mart/object_url_count", "/no/such/path", "/etl/runs/0"):
        headers = (await api.get(path)).headers
        assert headers["X-Content-Type-Options"] == "nosniff", path
        assert headers["X-Frame-Options"] == "DENY", path
        assert headers["Referrer-Policy"] == "no-referrer", path
        assert "default-src 'none'" in headers["Content-Security-Policy"], path
    docs = await api.get("/docs")
    assert docs.status_code == 200
    assert "Content-Security-Policy" not in docs.headers  # Swagger UI needs its CDN scripts
    assert docs.headers["X-Content-Type-Options"] == "nosniff"


async def test_cors_is_off_unless_configured(engine: AsyncEngine) -> None:
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "GET"}
    allowed = ApiSecurity(cors_origins=("https://app.example",))
    async with (
        asgi_client(create_app(engine, stale_after_s=180)) as closed,
        asgi_client(create_app(engine, stale_after_s=180, security=allowed)) as opened,
    ):
        off = await closed.get("/health", headers={"Origin": "https://app.example"})
        off_preflight = await closed.options("/health", headers=preflight)
        on = await opened.get("/health", headers={"Origin": "https://app.example"})
        on_preflight = await opened.options("/health", headers=preflight)
        stranger = await opened.get("/health", headers={"Origin": "https://evil.example"})

    assert "Access-Control-Allow-Origin" not in off.headers
    assert "Access-Control-Allow-Origin" not in off_preflight.headers
    assert on.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert on_preflight.status_code == 200
    assert "Access-Control-Allow-Origin" not in stranger.headers
