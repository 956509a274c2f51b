"""api: `/data_mart/object_url_count` vs the trivial `/health` of the same server, at 100 and at
1M stored launches (`spacex-etl api` in a subprocess, load from wrk or a Python client)."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

from bench.common import (
    BenchContext,
    child_env,
    free_port,
    fresh_database,
    print_table,
    wait_http,
)
from bench.loadgen import LoadResult, measure
from bench.loading import grow_launches, seed_launches
from spacex_etl import data_mart

FULL_SIZES, QUICK_SIZES = (100, 1_000_000), (100, 2_000)
FULL_SECONDS, QUICK_SECONDS = 10.0, 1.0
ROUNDS = 2  # alternate the endpoints and keep each one's best: the machine is shared


def _serve(url: str, port: int) -> subprocess.Popen[bytes]:
    env = child_env(DATABASE_URL=url, API_HOST="127.0.0.1", API_PORT=str(port), LOG_LEVEL="WARNING")
    return subprocess.Popen([sys.executable, "-m", "spacex_etl", "api"], env=env)


async def run(ctx: BenchContext) -> dict[str, Any]:
    sizes = QUICK_SIZES if ctx.quick else FULL_SIZES
    seconds = QUICK_SECONDS if ctx.quick else FULL_SECONDS
    results: list[dict[str, Any]] = []
    async with fresh_database(ctx.admin_url, "api") as database:
        engine = database.engine
        await seed_launches(engine)
        for size in sizes:
            started = time.perf_counter()
            stored = await grow_launches(engine, size)
            async with engine.begin() as conn:  # the API reads the data mart, not the rows
                await data_mart.recount(conn)
                counts = await data_mart.read_url_counts(conn)
            grow_s = time.perf_counter() - started
            port = free_port()
            server = _serve(database.dsn, port)
            try:
                base = f"http://127.0.0.1:{port}"
                wait_http(f"{base}/health")
                best: dict[str, LoadResult] = {}
                for _ in range(ROUNDS):
                    for path in ("/health", "/data_mart/object_url_count"):
                        got = measure(base + path, seconds=seconds)
                        if path not in best or got.requests_per_s > best[path].requests_per_s:
                            best[path] = got
            finally:
                server.terminate()
                server.wait(30)
            health, mart = best["/health"], best["/data_mart/object_url_count"]
            results.append(
                {
                    "stored_launches": stored,
                    "url_counts": counts,
                    "setup_s": round(grow_s, 1),
                    "tool": health.tool,
                    "health_rps": round(health.requests_per_s),
                    "health_p50_ms": health.p50_ms,
                    "health_p99_ms": health.p99_ms,
                    "data_mart_rps": round(mart.requests_per_s),
                    "data_mart_p50_ms": mart.p50_ms,
                    "data_mart_p99_ms": mart.p99_ms,
                    "data_mart_vs_health": round(mart.requests_per_s / health.requests_per_s, 3),
                    "errors": health.errors + mart.errors,
                }
            )
    first = results[0]["data_mart_rps"]
    for item in results:
        item["data_mart_vs_smallest"] = round(item["data_mart_rps"] / first, 3)
    print_table(
        f"api: data mart vs /health, same server ({results[0]['tool']}, 16 connections,"
        f" {seconds:.0f}s x {ROUNDS} rounds, best)",
        (
            "launches",
            "/health req/s",
            "p50 ms",
            "p99 ms",
            "data mart req/s",
            "p50 ms",
            "p99 ms",
            "mart/health",
            "mart vs 100",
        ),
        [
            (
                r["stored_launches"],
                r["health_rps"],
                r["health_p50_ms"],
                r["health_p99_ms"],
                r["data_mart_rps"],
                r["data_mart_p50_ms"],
                r["data_mart_p99_ms"],
                r["data_mart_vs_health"],
                r["data_mart_vs_smallest"],
            )
            for r in results
        ],
    )
    return {"seconds_per_measure": seconds, "connections": 16, "sizes": results}
