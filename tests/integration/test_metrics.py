"""`GET /metrics`: Prometheus text with run, row, last-success and HTTP metrics."""

from __future__ import annotations

import random
import string
import time
import urllib.request

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from spacex_etl.api import create_app
from spacex_etl.extract import SpaceXClient
from spacex_etl.observability.metrics import serve_metrics
from spacex_etl.pipeline import run_etl
from spacex_etl.run_lock import ADVISORY_LOCK_KEY
from tests.asgi import asgi_client
from tests.local_servers import free_port

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _samples(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def _scrape(api: httpx.AsyncClient) -> Samples:
    response = await api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return _samples(response.text)


async def test_metrics_count_runs_rows_and_requests(
    engine: AsyncEngine, source: SpaceXClient
) -> None:
    app = create_app(engine, stale_after_s=180)
    async with asgi_client(app) as api:
        before = await _scrape(api)
        assert _value(before, "spacex_etl_last_success_timestamp_seconds") == 0  # fresh database
        report = await run_etl(engine, source, budget_s=30)
        await api.get("/data_mart/object_url_count")
        await api.get(f"/etl/runs/{report.run_id}")
        await api.get("/etl/runs/999999")
        after = await _scrape(api)

    def delta(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert delta("spacex_etl_runs_total", status="success") == 1
    assert delta("spacex_etl_run_duration_seconds_count") == 1
    assert delta("spacex_etl_rows_total", entity="launches", action="inserted") == 107
    assert delta("spacex_etl_rows_total", entity="rockets", action="fetched") == 4
    last_success = _value(after, "spacex_etl_last_success_timestamp_seconds")
    assert time.time() - 60 < last_success <= time.time()
    route = "/data_mart/object_url_count"
    assert delta("spacex_etl_http_requests_total", method="GET", route=route, status="200") == 1
    # Route templates, not raw paths: ids do not make new series.
    run_route = "/etl/runs/{run_id}"
    assert delta("spacex_etl_http_requests_total", method="GET", route=run_route, status="200") == 1
    assert delta("spacex_etl_http_requests_total", method="GET", route=run_route, status="404") == 1
    assert delta("spacex_etl_http_request_duration_seconds_count", method="GET", route=route) == 1


async def test_unusual_methods_and_unknown_paths_add_a_bounded_number_of_series(
    engine: AsyncEngine,
) -> None:
    app = create_app(engine, stale_after_s=180)
    rng = random.Random(17)

    def token() -> str:
        return "".join(rng.choices(string.ascii_uppercase + string.digits, k=rng.randint(1, 12)))

    async with asgi_client(app) as api:
        before = await api.get("/metrics")
        for _ in range(300):  # what a fuzzer sends: any method token, any path
            method = rng.choice(["GET", "DELETE", token(), token().lower()])
            await api.request(method, f"/{token()}/{token()}?{token()}={token()}")
        for method in ("PROPFIND", "BREW", "get"):  # and odd methods on real routes
            await api.request(method, "/launches")
        after = await api.get("/metrics")

    def series(text: str) -> set[tuple[str, frozenset[tuple[str, str]]]]:
        return {key for key in _samples(text) if key[0].startswith("spacex_etl_http_")}

    added = series(after.text) - series(before.text)
    labels = {name: {dict(key[1]).get(name) for key in added} for name in ("method", "route")}
    assert labels["method"] <= {"GET", "DELETE", "other"}
    assert labels["route"] <= {"unmatched", "/launches", "/metrics"}
    # Per (method, route, status): one counter and 15 histogram samples; three methods, three
    # routes and a handful of statuses bound it, however many requests came.
    assert len(added) <= 3 * 3 * 3 * (1 + 15), sorted(added)
    assert len(after.content) - len(before.content) < 32 * 1024


async def test_a_skipped_run_is_counted(engine: AsyncEngine, source: SpaceXClient) -> None:
    app = create_app(engine, stale_after_s=180)
    async with asgi_client(app) as api:
        before = _value(await _scrape(api), "spacex_etl_runs_total", status="skipped")
        async with engine.connect() as other:  # another process's run holds the lock
            await other.execute(text("SELECT pg_advisory_lock(:k)"), {"k": ADVISORY_LOCK_KEY})
            assert (await run_etl(engine, source, budget_s=30)).skipped
        after = _value(await _scrape(api), "spacex_etl_runs_total", status="skipped")
    assert after - before == 1


def test_metrics_port_serves_the_same_registry() -> None:
    port = free_port()
    server = serve_metrics("127.0.0.1", port)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            body = response.read().decode()
    finally:
        server.shutdown()
        server.server_close()
    assert "spacex_etl_runs_total" in body
    assert "spacex_etl_last_success_timestamp_seconds" in body
