"""The HTTP API over ASGI, on a database loaded by a real run."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from spacex_etl.api import create_app
from spacex_etl.extract import SpaceXClient
from spacex_etl.pipeline import run_etl
from tests.support import REFERENCE_COUNTS


@pytest.fixture
async def api(engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(engine, stale_after_s=180)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client


async def test_object_url_count_answers_the_reference_counts(
    api: httpx.AsyncClient, engine: AsyncEngine, source: SpaceXClient
) -> None:
    await run_etl(engine, source, budget_s=30)

    response = await api.get("/data_mart/object_url_count")

    assert response.status_code == 200
    assert response.json() == REFERENCE_COUNTS


async def test_object_url_count_is_zero_before_any_run(api: httpx.AsyncClient) -> None:
    response = await api.get("/data_mart/object_url_count")
    assert response.json() == {"launches": 0, "missions": 0, "rockets": 0}


async def test_health_and_ready(
    api: httpx.AsyncClient, engine: AsyncEngine, source: SpaceXClient
) -> None:
    assert (await api.get("/health")).json() == {"status": "ok"}
    before = (await api.get("/ready")).json()
    assert before["status"] == "degraded"
    assert before["last_success_at"] is None

    await run_etl(engine, source, budget_s=30)

    after = await api.get("/ready")
    assert after.status_code == 200
    assert after.json()["status"] == "ready"
    assert 0 <= after.json()["last_success_age_s"] < 180


async def test_ready_degrades_when_the_last_success_is_stale(
    engine: AsyncEngine, source: SpaceXClient
) -> None:
    await run_etl(engine, source, budget_s=30)
    app = create_app(engine, stale_after_s=0.000_001)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as api:
        ready = (await api.get("/ready")).json()
    assert ready["status"] == "degraded"
    assert ready["last_success_at"] is not None


async def test_run_history_lists_newest_first_with_counts(
    api: httpx.AsyncClient, engine: AsyncEngine, source: SpaceXClient
) -> None:
    first = await run_etl(engine, source, budget_s=30)
    second = await run_etl(engine, source, budget_s=30)

    runs = (await api.get("/etl/runs", params={"limit": 2})).json()
    assert [r["id"] for r in runs] == [second.run_id, first.run_id]
    assert runs[1]["stats"]["launches"]["inserted"] == 107
    assert runs[0]["stats"]["launches"]["unchanged"] == 107
    one = (await api.get(f"/etl/runs/{first.run_id}")).json()
    assert one["status"] == "success"


@pytest.mark.parametrize(
    ("path", "status", "mentions"),
    [
        ("/etl/runs?limit=0", 422, "limit"),
        ("/etl/runs?limit=abc", 422, "limit"),
        ("/etl/runs?offset=-1", 422, "offset"),
        ("/etl/runs?offset=26906240528212180992", 422, "offset"),  # found by schemathesis
        ("/etl/runs/zero", 422, "run_id"),
        ("/etl/runs/424242", 404, "run 424242 not found"),
        ("/no/such/thing", 404, "Not Found"),
    ],
)
async def test_bad_parameters_get_a_4xx_with_a_message(
    api: httpx.AsyncClient, path: str, status: int, mentions: str
) -> None:
    response = await api.get(path)
    assert response.status_code == status
    assert mentions in response.text


async def test_openapi_is_served(api: httpx.AsyncClient) -> None:
    spec = (await api.get("/openapi.json")).json()
    assert "/data_mart/object_url_count" in spec["paths"]
    assert (await api.get("/docs")).status_code == 200
