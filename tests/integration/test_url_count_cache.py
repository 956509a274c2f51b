"""The API's in-memory data mart follows committed loads and steps aside when it cannot."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from spacex_etl.api import create_app
from spacex_etl.data_mart import UrlCountCache
from spacex_etl.db.database import Database
from spacex_etl.db.heartbeat import HEARTBEAT_DEADLINE_S, HEARTBEAT_INTERVAL_S
from spacex_etl.db.url import driver_dsn
from spacex_etl.extract import SpaceXClient
from spacex_etl.pipeline import LoadLimits, run_etl
from spacex_etl.replay import ReplayState
from spacex_etl.replay.dataset import load_recorded
from tests.support import REFERENCE_COUNTS
from tests.tcp_proxy import postgres_proxy

ZERO = {"launches": 0, "missions": 0, "rockets": 0}
DEAD_DATABASE = "postgresql://postgres@127.0.0.1:9/postgres"


async def _until(cache: UrlCountCache, expected: dict[str, int] | None) -> None:
    await _until_true(cache, lambda counts: counts == expected)


async def _until_true(
    cache: UrlCountCache, predicate: Callable[[dict[str, int] | None], bool]
) -> None:
    await asyncio.wait_for(cache.wait_for(predicate), timeout=20)


async def _served_within(api: httpx.AsyncClient, expected: dict[str, int], limit_s: float) -> float:
    """Seconds until the API serves `expected` as the data mart (checked every 100 ms)."""
    started = time.monotonic()
    while (await api.get("/data_mart/object_url_count")).json() != expected:
        assert time.monotonic() - started < limit_s, f"still stale after {limit_s}s"
        await asyncio.sleep(0.1)
    return time.monotonic() - started


@pytest.fixture
async def cache(database_url: str) -> AsyncIterator[UrlCountCache]:
    cache = UrlCountCache(driver_dsn(database_url), reconnect_delay_s=0.05)
    follower = asyncio.create_task(cache.run())
    await _until(cache, ZERO)
    yield cache
    follower.cancel()
    await asyncio.gather(follower, return_exceptions=True)


async def test_follows_each_committed_load(
    cache: UrlCountCache, engine: AsyncEngine, source: SpaceXClient, replay_state: ReplayState
) -> None:
    await run_etl(engine, source, budget_s=30)
    await _until(cache, REFERENCE_COUNTS)

    replay_state.set_data("rockets", [])
    # The source listing no rockets at all is past the deletion guard: allowed here.
    await run_etl(engine, source, budget_s=30, limits=LoadLimits(max_delete_fraction=1.0))
    await _until(cache, {**REFERENCE_COUNTS, "rockets": 0})


async def test_never_shows_an_uncommitted_load(
    cache: UrlCountCache, engine: AsyncEngine, source: SpaceXClient, replay_state: ReplayState
) -> None:
    await run_etl(engine, source, budget_s=30)
    await _until(cache, REFERENCE_COUNTS)
    replay_state.set_data("launches", load_recorded("launches")[:50])
    replay_state.add_fault({"kind": "latency", "seconds": 1, "entity": "launches", "after": 1})
    requests = replay_state.requests()["launches"]

    # Deleting 57 of 107 is past the default guard: allowed here, as it's not what is tested.
    everything = LoadLimits(max_delete_fraction=1.0)
    run = asyncio.create_task(run_etl(engine, source, budget_s=30, limits=everything))
    assert await asyncio.to_thread(replay_state.wait_for_requests, "launches", requests + 2, 20)
    during = cache.counts
    await run

    assert during == REFERENCE_COUNTS
    await _until_true(
        cache, lambda counts: counts is not None and counts["launches"] < during["launches"]
    )


async def test_endpoint_serves_the_copy_without_a_database_round_trip(
    cache: UrlCountCache, engine: AsyncEngine, source: SpaceXClient
) -> None:
    await run_etl(engine, source, budget_s=30)
    await _until(cache, REFERENCE_COUNTS)
    unreachable = Database(DEAD_DATABASE).engine  # any database access would fail with a 503
    app = create_app(unreachable, stale_after_s=180, url_counts=cache)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as api:
        response = await api.get("/data_mart/object_url_count")
    await unreachable.dispose()

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["X-Data-Mart-Status"] == "loaded"
    assert response.json() == REFERENCE_COUNTS
    assert list(response.json()) == ["launches", "missions", "rockets"]


async def test_a_silent_listener_path_is_noticed_and_the_api_serves_what_is_committed(
    database_url: str,
    engine: AsyncEngine,
    source: SpaceXClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert (await run_etl(engine, source, budget_s=30)).ok
    with postgres_proxy(database_url) as (proxy, proxied_url):
        cache = UrlCountCache(driver_dsn(proxied_url), reconnect_delay_s=0.05)
        follower = asyncio.create_task(cache.run())
        app = create_app(engine, stale_after_s=180, url_counts=cache)
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as api:
                await _until(cache, REFERENCE_COUNTS)
                first_launch = (await api.get("/launches", params={"limit": 1})).json()["items"][0]

                proxy.freeze()  # the listener's path stops carrying packets; nothing closes
                committed = {**REFERENCE_COUNTS, "rockets": REFERENCE_COUNTS["rockets"] + 1}
                async with engine.begin() as conn:  # a load commits, on another path
                    await conn.execute(
                        text("UPDATE launches SET details = 'changed' WHERE id = :id"),
                        {"id": first_launch["id"]},
                    )
                    await conn.execute(
                        text(
                            "UPDATE object_url_count SET url_count = url_count + 1"
                            " WHERE entity = 'rockets'"
                        )
                    )
                    await conn.execute(text("SELECT pg_notify('object_url_count', 'rockets')"))
                stale_s = await _served_within(api, committed, 30)
                browsed = (await api.get("/launches", params={"limit": 1})).json()["items"][0]

                proxy.thaw()  # back: it reconnects, re-reads and serves from memory again
                await _until(cache, committed)
        finally:
            follower.cancel()
            await asyncio.gather(follower, return_exceptions=True)
    # Noticed within a heartbeat interval and its deadline; the answers then come from the
    # database: the browse answer kept for the old data is gone too.
    assert stale_s <= HEARTBEAT_INTERVAL_S + HEARTBEAT_DEADLINE_S + 5
    assert browsed["details"] == "changed"
    assert any("data mart listener silent" in r.getMessage() for r in caplog.records)
    print(f"\nsilent listener path: served stale for {stale_s:.1f}s")  # noqa: T201
