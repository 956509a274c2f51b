"""What probes, link checkers and an offline browser get: /ready's status code, the data mart's
"no run yet" header, HEAD wherever GET works, and /docs with no asset from another host."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from spacex_etl.api import create_app
from spacex_etl.data_mart import UrlCountCache
from spacex_etl.db.url import driver_dsn
from spacex_etl.extract import SpaceXClient
from spacex_etl.pipeline import run_etl
from tests.support import REFERENCE_COUNTS

Settle = Callable[[], Awaitable[None]]


def _client(engine: AsyncEngine, *, ready_degraded_ok: bool = False) -> httpx.AsyncClient:
    app = create_app(engine, stale_after_s=180, ready_degraded_ok=ready_degraded_ok)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")


@pytest.fixture
async def api(engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(engine) as client:
        yield client


async def test_ready_is_503_until_a_run_succeeds_then_200(
    api: httpx.AsyncClient, engine: AsyncEngine, source: SpaceXClient
) -> None:
    before = await api.get("/ready")
    assert before.status_code == 503
    assert before.json()["status"] == "degraded"

    await run_etl(engine, source, budget_s=30)

    after = await api.get("/ready")
    assert after.status_code == 200
    assert after.json()["status"] == "ready"


async def test_ready_degraded_ok_answers_200_with_the_degraded_body(engine: AsyncEngine) -> None:
    async with _client(engine, ready_degraded_ok=True) as api:
        response = await api.get("/ready")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"


async def _data_mart_status_before_and_after_a_load(
    api: httpx.AsyncClient, engine: AsyncEngine, source: SpaceXClient, settled: Settle
) -> None:
    before = await api.get("/data_mart/object_url_count")
    assert before.headers["X-Data-Mart-Status"] == "empty"
    assert before.json() == {"launches": 0, "missions": 0, "rockets": 0}  # the shape is kept

    await run_etl(engine, source, budget_s=30)
    await settled()

    after = await api.get("/data_mart/object_url_count")
    assert after.headers["X-Data-Mart-Status"] == "loaded"
    assert after.json() == REFERENCE_COUNTS


async def test_data_mart_says_empty_until_a_load_stored_data(
    api: httpx.AsyncClient, engine: AsyncEngine, source: SpaceXClient
) -> None:
    async def nothing_to_wait_for() -> None:
        return None

    await _data_mart_status_before_and_after_a_load(api, engine, source, nothing_to_wait_for)


async def test_data_mart_from_memory_says_empty_until_a_load_stored_data(
    engine: AsyncEngine, database_url: str, source: SpaceXClient
) -> None:
    cache = UrlCountCache(driver_dsn(database_url))
    app = create_app(engine, stale_after_s=180, url_counts=cache)
    transport = httpx.ASGITransport(app=app)
    follower = asyncio.create_task(cache.run())
    try:
        await cache.wait_for(lambda counts: counts is not None)  # listening: served from memory

        async def following_the_load() -> None:
            await cache.wait_for(lambda counts: counts == REFERENCE_COUNTS)

        async with httpx.AsyncClient(transport=transport, base_url="http://api") as api:
            await _data_mart_status_before_and_after_a_load(api, engine, source, following_the_load)
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)


@pytest.mark.parametrize(
    "path", ["/health", "/ready", "/data_mart/object_url_count", "/etl/runs", "/docs"]
)
async def test_head_answers_like_get_without_a_body(api: httpx.AsyncClient, path: str) -> None:
    get = await api.get(path)
    head = await api.head(path)
    assert head.status_code == get.status_code
    assert head.status_code != 405
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]


async def test_head_is_refused_where_get_is(api: httpx.AsyncClient) -> None:
    assert (await api.head("/no/such/thing")).status_code == 404


async def test_docs_load_every_asset_from_the_app_itself(api: httpx.AsyncClient) -> None:
    page = (await api.get("/docs")).text
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert any(a.endswith(".js") for a in assets)
    assert any(a.endswith(".css") for a in assets)
    # Nothing from another host: no scheme, no protocol-relative URL.
    assert not re.search(r"https?://|//[a-z]", page.replace("window.location.origin", ""))
    for asset in assets:
        response = await api.get(asset)
        assert response.status_code == 200, asset
        assert len(response.content) > 1000, asset
