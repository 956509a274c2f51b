"""Database outages: at start-up, and a real PostgreSQL restart in the middle of a run."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from spacex_etl.api import create_app
from spacex_etl.data_mart import UrlCountCache
from spacex_etl.db.database import TCP_KEEPALIVE, Database
from spacex_etl.db.url import driver_dsn
from spacex_etl.extract import SpaceXClient
from spacex_etl.pipeline import run_etl
from spacex_etl.replay import ReplayState
from spacex_etl.scheduler import scheduled
from spacex_etl.service import EtlService
from tests.local_servers import free_port
from tests.restartable_postgres import RestartablePostgres
from tests.support import REFERENCE_COUNTS, migrate_to_head

DEAD_DATABASE = "postgresql://postgres@127.0.0.1:9/postgres"  # discard port: nothing listens


def _api(engine: AsyncEngine) -> httpx.AsyncClient:
    app = create_app(engine, stale_after_s=180)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")


@pytest.fixture(scope="module")
def restartable() -> Iterator[RestartablePostgres]:
    """A server of this module's own (it gets stopped), migrated once."""
    with tempfile.TemporaryDirectory(prefix="spacex-etl-restart-") as folder:
        server = RestartablePostgres(Path(folder) / "data")
        asyncio.run(migrate_to_head(server.url))
        try:
            yield server
        finally:
            server.close()


@pytest.fixture
async def restartable_engine(restartable: RestartablePostgres) -> AsyncIterator[AsyncEngine]:
    restartable.start()
    engine = Database(restartable.url).engine
    async with engine.begin() as conn:  # a clean slate: earlier tests share this server
        await conn.execute(text("TRUNCATE launches, missions, rockets, etl_runs CASCADE"))
        await conn.execute(text("UPDATE object_url_count SET url_count = 0"))
    yield engine
    await engine.dispose()


async def test_api_answers_503_with_json_while_the_database_is_down() -> None:
    engine = Database(DEAD_DATABASE).engine
    async with _api(engine) as api:
        health = await api.get("/health")
        ready = await api.get("/ready")
        counts = await api.get("/data_mart/object_url_count")
        runs = await api.get("/etl/runs")
    await engine.dispose()

    assert health.status_code == 200
    for response in (ready, counts, runs):
        assert response.status_code == 503
        assert response.json() == {"detail": "database unavailable, try again shortly"}
        assert response.headers["retry-after"] == "5"


async def test_scheduled_tick_survives_a_database_down_at_start(source: SpaceXClient) -> None:
    engine = Database(DEAD_DATABASE).engine
    service = EtlService(engine, source, run_budget_s=30)
    try:
        await service.tick()  # logs, does not raise: the scheduler keeps ticking
    finally:
        await engine.dispose()
    with pytest.raises(OSError, match=r"Connect call failed|refused"):
        await service.run_once()


async def test_restart_mid_run_rolls_back_and_everything_recovers_without_a_restart(
    restartable: RestartablePostgres,
    restartable_engine: AsyncEngine,
    source: SpaceXClient,
    replay_state: ReplayState,
) -> None:
    engine = restartable_engine
    first = await run_etl(engine, source, budget_s=30)
    assert first.ok
    # Second run: every launch changes, and page 3 arrives after the server went down.
    changed = [dict(r, details="changed") for r in replay_state.records("launches")]
    replay_state.set_data("launches", changed)
    replay_state.add_fault({"kind": "latency", "seconds": 1, "entity": "launches", "after": 2})
    requests = replay_state.requests()["launches"]

    run = asyncio.create_task(run_etl(engine, source, budget_s=30))
    page_3_asked = await asyncio.to_thread(
        replay_state.wait_for_requests, "launches", requests + 3, 20
    )
    assert page_3_asked
    await asyncio.to_thread(restartable.stop)
    # Its lock went with the server: it stops, but cannot record why (the next run does).
    stopped = await run
    assert stopped.status == "interrupted"
    await asyncio.to_thread(restartable.start)

    async with _api(engine) as api:  # the same engine and app: no restart needed
        assert (await api.get("/data_mart/object_url_count")).json() == REFERENCE_COUNTS
        third = await run_etl(engine, source, budget_s=30)
        assert third.ok
        assert third.stats["launches"].updated == 107  # the interrupted run wrote nothing
        history = (await api.get("/etl/runs")).json()
    assert [r["status"] for r in history] == ["success", "interrupted", "success"]
    assert "abandoned" in history[1]["error"]


async def test_in_memory_data_mart_steps_aside_during_an_outage_and_returns(
    restartable: RestartablePostgres,
    restartable_engine: AsyncEngine,
    source: SpaceXClient,
) -> None:
    assert (await run_etl(restartable_engine, source, budget_s=30)).ok
    cache = UrlCountCache(driver_dsn(restartable.url), reconnect_delay_s=0.05)
    follower = asyncio.create_task(cache.run())
    app = create_app(restartable_engine, stale_after_s=180, url_counts=cache)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as api:
            await asyncio.wait_for(cache.wait_for(lambda c: c == REFERENCE_COUNTS), 20)

            await asyncio.to_thread(restartable.stop)
            await asyncio.wait_for(cache.wait_for(lambda c: c is None), 20)
            down = await api.get("/data_mart/object_url_count")

            await asyncio.to_thread(restartable.start)
            await asyncio.wait_for(cache.wait_for(lambda c: c == REFERENCE_COUNTS), 20)
            back = await api.get("/data_mart/object_url_count")
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)

    assert down.status_code == 503  # no stale copy served while the truth is unreachable
    assert back.json() == REFERENCE_COUNTS


async def test_every_session_asks_the_server_to_drop_a_client_that_vanished() -> None:
    # A server of its own on TCP: PostgreSQL applies these to TCP sessions only (on a unix
    # socket, as the embedded default listens, SHOW answers 0 whatever the session asked).
    with tempfile.TemporaryDirectory(prefix="spacex-etl-keepalive-") as folder:
        server = RestartablePostgres(Path(folder) / "data", listen=("127.0.0.1", free_port()))
        try:
            async with Database(server.url) as database, database.engine.connect() as conn:
                shown = {name: await conn.scalar(text(f"SHOW {name}")) for name in TCP_KEEPALIVE}
        finally:
            server.close()
    assert shown == {
        "tcp_keepalives_idle": "10",
        "tcp_keepalives_interval": "5",
        "tcp_keepalives_count": "3",
        "tcp_user_timeout": "25000",  # shown in milliseconds
    }


async def test_a_restart_is_survived_by_the_scheduler_and_the_follower(
    restartable: RestartablePostgres,
    restartable_engine: AsyncEngine,
    source: SpaceXClient,
) -> None:
    """What `spacex-etl run` hosts (the scheduled ETL and the API's in-memory data mart), over
    a restart of PostgreSQL: the next tick takes the lock on a fresh session and succeeds, the
    follower reconnects and re-reads; neither needs a restart of its own."""
    engine = restartable_engine
    service = EtlService(engine, source, run_budget_s=30)
    cache = UrlCountCache(driver_dsn(restartable.url), reconnect_delay_s=0.05)
    follower = asyncio.create_task(cache.run())
    try:
        async with scheduled(service.tick, interval_s=0.5):
            await asyncio.wait_for(cache.wait_for(lambda c: c == REFERENCE_COUNTS), 20)
            await asyncio.to_thread(restartable.stop)
            await asyncio.wait_for(cache.wait_for(lambda c: c is None), 20)
            await asyncio.to_thread(restartable.start)
            restarted = await _successes(engine)
            await asyncio.wait_for(_until_more_successes(engine, restarted), 30)
            await asyncio.wait_for(cache.wait_for(lambda c: c == REFERENCE_COUNTS), 20)
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)
    async with _api(engine) as api:
        history = (await api.get("/etl/runs", params={"limit": 100})).json()
    # Every run ended with a status, the one the restart cut short included.
    assert "running" not in [r["status"] for r in history]


async def _successes(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        count = await conn.scalar(text("SELECT count(*) FROM etl_runs WHERE status = 'success'"))
    return int(count or 0)


async def _until_more_successes(engine: AsyncEngine, than: int) -> None:
    while True:
        try:
            if await _successes(engine) > than:
                return
        except OSError:
            pass  # the server is still starting
        await asyncio.sleep(0.1)
