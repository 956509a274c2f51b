"""memory: peak RSS of a `spacex-etl etl` process at 10k vs 1M launches served over HTTP by a
replay server in another process. Extract streams pages into one COPY, so it should not grow."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

from bench.common import BenchContext, child_env, free_port, fresh_database, print_table, wait_http

FULL_SIZES, QUICK_SIZES = (10_000, 1_000_000), (200, 2_000)
PAGE_SIZE = 1_000
TARGET_RATIO = 1.5


# A child forked from this bench process (gigabytes of synthetic rows by now) would report our
# pages as its peak: Linux carries the pre-exec high-water mark over into `ru_maxrss`. A small
# launcher in between starts the ETL from a clean process and reports the ETL's own peak.
_LAUNCHER = """
import resource, subprocess, sys
code = subprocess.call(sys.argv[1:], stdout=sys.stderr)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)
"""


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
    started = time.perf_counter()
    launched = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, sys.executable, "-m", "spacex_etl", "etl"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    peak_kib, code = (int(field) for field in launched.stdout.split())
    if code != 0:
        # A failed run still shows its peak; say why it failed rather than hide the figure.
        print(f"spacex-etl etl exited {code}:\n{launched.stderr}", file=sys.stderr)
    return peak_kib * 1024, time.perf_counter() - started, code


def _start_replay(launches: int, port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "bench.replay_worker", "--launches", str(launches)]
    return subprocess.Popen([*command, "--port", str(port)], env=child_env())


async def run(ctx: BenchContext) -> dict[str, Any]:
    sizes = QUICK_SIZES if ctx.quick else FULL_SIZES
    results: list[dict[str, Any]] = []
    for size in sizes:
        port = free_port()
        replay = _start_replay(size, port)
        try:
            wait_http(f"http://127.0.0.1:{port}/health", timeout_s=600)
            async with fresh_database(ctx.admin_url, "memory") as url:
                rss, seconds, code = _etl_peak_rss(url, f"http://127.0.0.1:{port}/")
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
