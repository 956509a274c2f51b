"""memory: peak RSS of a `spacex-etl etl` process at 10k vs 1M launches served over HTTP by a
replay server in another process. Extract streams pages into one COPY, so it should not grow."""

from __future__ import annotations

import sys
from typing import Any

from bench.common import (
    BenchContext,
    child_env,
    etl_process,
    free_port,
    fresh_database,
    print_table,
    start_replay_worker,
    wait_http,
)

FULL_SIZES, QUICK_SIZES = (10_000, 1_000_000), (200, 2_000)
PAGE_SIZE = 1_000
TARGET_RATIO = 1.5


def _etl_peak_rss(database_url: str, api_url: str) -> tuple[int, float, int]:
    """(peak RSS in bytes, seconds, exit code) of one `spacex-etl etl` process."""
    env = child_env(
        DATABASE_URL=database_url,
        SPACEX_API_URL=api_url,
        PAGE_SIZE=str(PAGE_SIZE),
        HTTP_TIMEOUT_SECONDS="120",
        ETL_RUN_BUDGET_SECONDS="7200",
        LOG_LEVEL="WARNING",
    )
    etl = etl_process(env)
    if etl.exit_code != 0:
        # A failed run still shows its peak; say why it failed rather than hide the figure.
        print(f"spacex-etl etl exited {etl.exit_code}:\n{etl.output}", file=sys.stderr)
    return etl.peak_rss, etl.seconds, etl.exit_code


async def run(ctx: BenchContext) -> dict[str, Any]:
    sizes = QUICK_SIZES if ctx.quick else FULL_SIZES
    results: list[dict[str, Any]] = []
    for size in sizes:
        port = free_port()
        replay = start_replay_worker(size, port)
        try:
            wait_http(f"http://127.0.0.1:{port}/health", timeout_s=600)
            async with fresh_database(ctx.admin_url, "memory") as database:
                rss, seconds, code = _etl_peak_rss(database.dsn, f"http://127.0.0.1:{port}/")
        finally:
            replay.terminate()
            replay.wait(30)
        results.append(
            {
                "launches": size,
                "peak_rss_mib": round(rss / 2**20, 1),
                "etl_s": round(seconds, 1),
                "records_per_s": round(size / seconds),
                "etl_exit_code": code,
            }
        )
    ratio = results[-1]["peak_rss_mib"] / results[0]["peak_rss_mib"]
    print_table(
        f"memory: peak RSS of `spacex-etl etl`, page size {PAGE_SIZE}"
        f" (target: largest <= {TARGET_RATIO}x smallest)",
        ("launches", "peak RSS MiB", "etl s", "records/s", "exit"),
        [
            (r["launches"], r["peak_rss_mib"], r["etl_s"], r["records_per_s"], r["etl_exit_code"])
            for r in results
        ],
    )
    print(f"ratio {results[-1]['launches']:,} / {results[0]['launches']:,}: {ratio:.2f}x")
    return {
        "page_size": PAGE_SIZE,
        "sizes": results,
        "rss_ratio_largest_vs_smallest": round(ratio, 3),
        "target_ratio": TARGET_RATIO,
    }
