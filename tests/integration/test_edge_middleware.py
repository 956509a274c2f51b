"""App-level edge safety: request ids, security headers, CORS, rate limit (memory and Redis)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from spacex_etl.api import create_app
from spacex_etl.api.security import ApiSecurity
from tests.asgi import asgi_client
from tests.local_servers import free_port, redis_server


def _unique_address() -> str:
    """A client address no other test (or earlier run on a shared Redis) has used."""
    return f"fd00::{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}"


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


async def _hits(client: httpx.AsyncClient, n: int, path: str = "/etl/runs") -> list[int]:
    return [(await client.get(path)).status_code for _ in range(n)]


async def test_rate_limit_in_memory_per_client_address(engine: AsyncEngine) -> None:
    app = create_app(engine, stale_after_s=180, security=ApiSecurity(rate_limit="3/minute"))
    async with asgi_client(app, "192.0.2.1") as first, asgi_client(app, "192.0.2.2") as second:
        statuses = await _hits(first, 4)
        refused = await first.get("/data_mart/object_url_count")
        probes = await _hits(first, 5, "/health") + await _hits(first, 5, "/ready")
        other_client = await _hits(second, 3)

    assert statuses == [200, 200, 200, 429]
    assert refused.status_code == 429
    assert refused.json()["detail"].startswith("rate limit exceeded: 3 per 1 minute")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["X-Content-Type-Options"] == "nosniff"
    assert "X-Request-Id" in refused.headers
    # Probes are exempt: /health answers 200, /ready 503 (no run has succeeded), never 429.
    assert probes == [200] * 5 + [503] * 5
    assert other_client == [200, 200, 200]


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


async def test_rate_limit_in_redis_is_shared_by_replicas(
    engine: AsyncEngine, redis_url: str
) -> None:
    shared = ApiSecurity(rate_limit="4/minute", rate_limit_storage=redis_url)
    replica_a = create_app(engine, stale_after_s=180, security=shared)
    replica_b = create_app(engine, stale_after_s=180, security=shared)
    address = _unique_address()
    async with asgi_client(replica_a, address) as a, asgi_client(replica_b, address) as b:
        statuses = await _hits(a, 2) + await _hits(b, 2) + await _hits(a, 1) + await _hits(b, 1)
    memory_only = ApiSecurity(rate_limit="4/minute")
    async with (
        asgi_client(create_app(engine, stale_after_s=180, security=memory_only), address) as c,
        asgi_client(create_app(engine, stale_after_s=180, security=memory_only), address) as d,
    ):
        separate = await _hits(c, 3) + await _hits(d, 3)

    assert statuses == [200, 200, 200, 200, 429, 429]
    assert separate == [200] * 6  # in memory, each replica counts alone


async def test_rate_limit_lets_requests_through_while_redis_is_down(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    down = ApiSecurity(rate_limit="1/minute", rate_limit_storage=f"redis://127.0.0.1:{free_port()}")
    app = create_app(engine, stale_after_s=180, security=down)
    with caplog.at_level(logging.WARNING, logger="spacex_etl.api.middleware"):
        async with asgi_client(app) as client:
            statuses = await _hits(client, 3)

    assert statuses == [200, 200, 200]
    assert "rate-limit storage unavailable" in caplog.text
