"""load: the project's load stage vs a bare COPY of the same rows vs the original per-row upsert."""

from __future__ import annotations

import time
from typing import Any

import asyncpg

from bench.common import (
    BenchContext,
    checkpoint,
    fresh_database,
    print_table,
    rate,
    synthetic_rows,
)
from bench.loading import bare_copy, empty_launches, load_snapshot, naive_upsert

FULL_SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (300, 1_000)
NAIVE_FULL, NAIVE_QUICK = 2_000, 50
# Small sizes are over in a second: repeat and keep the best, to see through the noise.
ROUNDS_UP_TO_100K = 3


async def run(ctx: BenchContext) -> dict[str, Any]:
    sizes = QUICK_SIZES if ctx.quick else FULL_SIZES
    naive_count = NAIVE_QUICK if ctx.quick else NAIVE_FULL
    results: list[dict[str, Any]] = []
    async with fresh_database(ctx.admin_url, "load") as database:
        engine = database.engine
        admin = await asyncpg.connect(database.dsn)
        try:
            for size in sizes:
                started = time.perf_counter()
                rows = synthetic_rows(size)
                made_s = time.perf_counter() - started
                rounds = ROUNDS_UP_TO_100K if size <= 100_000 else 1
                copy_s: list[float] = []
                load_s: list[float] = []
                best_phases: dict[str, float] = {}
                for _ in range(rounds):
                    await empty_launches(engine)
                    await checkpoint(admin)
                    copy_s.append(await bare_copy(engine, rows))
                    await checkpoint(admin)
                    timing = await load_snapshot(engine, rows)
                    assert timing.counts is not None
                    assert timing.counts.inserted == size
                    if not load_s or timing.total_s < min(load_s):
                        best_phases = timing.phases
                    load_s.append(timing.total_s)
                copy_rate, load_rate = rate(size, min(copy_s)), rate(size, min(load_s))
                results.append(
                    {
                        "rows": size,
                        "rounds": rounds,
                        "synthesis_s": round(made_s, 3),
                        "bare_copy_s": round(min(copy_s), 3),
                        "load_s": round(min(load_s), 3),
                        "bare_copy_rows_per_s": round(copy_rate),
                        "load_rows_per_s": round(load_rate),
                        "load_vs_copy": round(load_rate / copy_rate, 3),
                        "load_phases_s": {k: round(v, 3) for k, v in best_phases.items()},
                    }
                )
                del rows
            # The per-row upsert is far too slow for 1M rows: time a sample, extrapolate rows/s.
            await empty_launches(engine)
            naive_s = await naive_upsert(engine, synthetic_rows(naive_count))
        finally:
            await admin.close()
    naive_rate = rate(naive_count, naive_s)
    for item in results:
        item["naive_rows_per_s_extrapolated"] = round(naive_rate)
        item["load_vs_naive"] = round(item["load_rows_per_s"] / naive_rate, 1)
        item["naive_extrapolated_s"] = round(item["rows"] / naive_rate, 1)
    print_table(
        "load: stage COPY + merge + data mart (one transaction) vs bare COPY vs per-row upsert",
        (
            "rows",
            "bare COPY rows/s",
            "load rows/s",
            "load/COPY",
            "naive rows/s*",
            "load/naive",
            "load s",
            "stage",
            "merge",
        ),
        [
            (
                r["rows"],
                r["bare_copy_rows_per_s"],
                r["load_rows_per_s"],
                r["load_vs_copy"],
                r["naive_rows_per_s_extrapolated"],
                r["load_vs_naive"],
                r["load_s"],
                r["load_phases_s"].get("stage_copy", 0.0),
                r["load_phases_s"].get("merge", 0.0),
            )
            for r in results
        ],
    )
    print(f"* per-row upsert timed on {naive_count:,} rows ({naive_s:.1f}s) and extrapolated")
    return {
        "sizes": results,
        "naive": {"rows": naive_count, "seconds": round(naive_s, 3), "rows_per_s": naive_rate},
    }
