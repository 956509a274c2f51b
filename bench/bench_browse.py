"""browse: `GET /launches`, a page of 50 with a filter, at 100 and at 1M stored launches.

Two ways, both on the same database in the same run:
- through HTTP with wrk (or the Python load generator) against `spacex-etl api`, the first
  page, the last page and `/health` alternating: what clients get, answers served from memory
  until a load commits (`api/http_cache.py`);
- uncached, through the app in-process (no listener, so every request reads PostgreSQL): the
  latency of the first and of the last page. Keyset paging makes the last page of 1M cost what
  the first does; an OFFSET would read the whole listing first.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.bench_api import _serve
from bench.common import (
    BenchContext,
    free_port,
    fresh_database,
    print_table,
    wait_http,
)
from bench.loadgen import LoadResult, measure
from bench.loading import grow_launches, seed_launches
from spacex_etl import browse
from spacex_etl.api import create_app
from spacex_etl.db.tables import launches

FULL_SIZES, QUICK_SIZES = (100, 1_000_000), (100, 2_000)
FULL_SECONDS, QUICK_SECONDS = 10.0, 1.0
FULL_REPEATS, QUICK_REPEATS = 200, 10
# Alternate the endpoints and keep each one's best: the machine is shared.
FULL_ROUNDS, QUICK_ROUNDS = 2, 1
PAGE = 50
# As browsers, curl --compressed, httpx and requests send it; /health gets it too.
HEADERS = ("Accept-Encoding: gzip",)
# (name, filters, sort, order): the listings measured, each at its first and its last page.
LISTINGS: tuple[tuple[str, dict[str, Any], str, str], ...] = (
    ("year=2018, by date", {"year": 2018}, "date", "asc"),
    ("rocket=falcon9, by flight number desc", {"rocket": "falcon9"}, "flight_number", "desc"),
)


async def _last_page(
    engine: AsyncEngine, filters: dict[str, Any], sort: str, order: str
) -> tuple[str | None, int]:
    """The cursor of the listing's last full page (None: one page holds it all), its length."""
    key, _ = browse.LAUNCH_SORTS[sort]
    descending = order == "desc"
    where = [launches.c.deleted_at.is_(None), *browse.LaunchFilters(**filters).conditions()]
    ids = launches.c.id
    ordering = (
        [key.desc().nulls_last(), ids.desc()] if descending else [key.asc().nulls_last(), ids]
    )
    async with engine.connect() as conn:
        count = select(func.count()).select_from(launches).where(*where)
        total = int(await conn.scalar(count) or 0)
        if total <= PAGE:
            return None, total
        before_last = select(key, ids).where(*where).order_by(*ordering).offset(total - PAGE - 1)
        row = (await conn.execute(before_last.limit(1))).one()
    return browse.encode_cursor(browse.Cursor(sort, descending, row[0], row[1])), total


async def _uncached_ms(
    engine: AsyncEngine, path: str, params: dict[str, Any], repeats: int
) -> float:
    """Median ms of `path` through the app in-process, every request reading PostgreSQL."""
    app = create_app(engine, stale_after_s=180)  # no listener: nothing kept in memory
    transport = httpx.ASGITransport(app=app)
    timings = []
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        await client.get(path, params=params)  # warm: the pool's connection, cached plans
        for _ in range(repeats):
            started = time.perf_counter()
            response = await client.get(path, params=params)
            timings.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
            assert response.json()["items"], "an empty page measures nothing"
    return statistics.median(timings) * 1000


async def _check_last_pages(
    base: str, pages: list[tuple[str, int, Any, Any]]
) -> list[tuple[int, int]]:
    """Each "last page" is full and really the last (no cursor after it); returns the bytes
    of each last page as JSON and gzipped."""
    sizes = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        for _, matching, _, last in pages:
            plain = await client.get(
                "/launches", params=last, headers={"Accept-Encoding": "identity"}
            )
            zipped = await client.get("/launches", params=last, headers={"Accept-Encoding": "gzip"})
            body = plain.json()
            assert len(body["items"]) == min(PAGE, matching)
            assert body["next_cursor"] is None
            sizes.append((len(plain.content), int(zipped.headers["content-length"])))
    return sizes


def _query(params: dict[str, Any]) -> str:
    return str(httpx.QueryParams(params))


async def run(ctx: BenchContext) -> dict[str, Any]:
    sizes = QUICK_SIZES if ctx.quick else FULL_SIZES
    seconds = QUICK_SECONDS if ctx.quick else FULL_SECONDS
    repeats = QUICK_REPEATS if ctx.quick else FULL_REPEATS
    rounds = QUICK_ROUNDS if ctx.quick else FULL_ROUNDS
    results: list[dict[str, Any]] = []
    async with fresh_database(ctx.admin_url, "browse") as database:
        engine = database.engine
        await seed_launches(engine)
        for size in sizes:
            started = time.perf_counter()
            stored = await grow_launches(engine, size)
            setup_s = time.perf_counter() - started
            pages = []
            for name, filters, sort, order in LISTINGS:
                first = {**filters, "sort": sort, "order": order, "limit": PAGE}
                cursor, matching = await _last_page(engine, filters, sort, order)
                last = {**first, "cursor": cursor} if cursor else first
                pages.append((name, matching, first, last))
            uncached = [
                (
                    await _uncached_ms(engine, "/launches", first, repeats),
                    await _uncached_ms(engine, "/launches", last, repeats),
                )
                for _, _, first, last in pages
            ]
            port = free_port()
            server = _serve(database.dsn, port)
            try:
                base = f"http://127.0.0.1:{port}"
                wait_http(f"{base}/health")
                paths = ["/health"]
                for _, _, first, last in pages:
                    paths += [f"/launches?{_query(first)}", f"/launches?{_query(last)}"]
                page_bytes = await _check_last_pages(base, pages)
                best: dict[str, LoadResult] = {}
                for _ in range(rounds):
                    for path in paths:
                        got = measure(base + path, seconds=seconds, headers=HEADERS)
                        if path not in best or got.requests_per_s > best[path].requests_per_s:
                            best[path] = got
            finally:
                server.terminate()
                server.wait(30)
            health = best["/health"]
            for index, (name, matching, first, last) in enumerate(pages):
                first_http = best[f"/launches?{_query(first)}"]
                last_http = best[f"/launches?{_query(last)}"]
                first_ms, last_ms = uncached[index]
                results.append(
                    {
                        "stored_launches": stored,
                        "listing": name,
                        "matching": matching,
                        "setup_s": round(setup_s, 1),
                        "tool": health.tool,
                        "health_rps": round(health.requests_per_s),
                        "first_page_rps": round(first_http.requests_per_s),
                        "last_page_rps": round(last_http.requests_per_s),
                        "first_page_vs_health": round(
                            first_http.requests_per_s / health.requests_per_s, 3
                        ),
                        "last_vs_first_rps": round(
                            last_http.requests_per_s / first_http.requests_per_s, 3
                        ),
                        "uncached_first_page_ms": round(first_ms, 2),
                        "uncached_last_page_ms": round(last_ms, 2),
                        # As rates: the last page's speed as a share of the first's.
                        "uncached_last_vs_first": round(first_ms / last_ms, 3),
                        "last_page_bytes": page_bytes[index][0],
                        "last_page_gzip_bytes": page_bytes[index][1],
                        "errors": health.errors + first_http.errors + last_http.errors,
                    }
                )
    print_table(
        f"browse: GET /launches, pages of {PAGE} ({results[0]['tool']}, 16 connections,"
        f" {seconds:.0f}s x {rounds} rounds, best; uncached: median of {repeats} in-process)",
        (
            "launches",
            "listing",
            "matching",
            "/health req/s",
            "first req/s",
            "last req/s",
            "first/health",
            "uncached first ms",
            "uncached last ms",
            "uncached last/first",
        ),
        [
            (
                r["stored_launches"],
                r["listing"],
                r["matching"],
                r["health_rps"],
                r["first_page_rps"],
                r["last_page_rps"],
                r["first_page_vs_health"],
                r["uncached_first_page_ms"],
                r["uncached_last_page_ms"],
                r["uncached_last_vs_first"],
            )
            for r in results
        ],
    )
    return {"page": PAGE, "seconds_per_measure": seconds, "connections": 16, "sizes": results}
