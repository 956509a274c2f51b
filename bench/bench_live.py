"""live: one ETL run against the replayed live API, as it really answers: round trips and wall time.

The live server makes every request that asks for `upcoming` wait 3 s (see src/spacex_etl/replay/
live.py), so a run's cost there is its number of round trips. Measured for the current server and
its 2023 revision (broken paging), at the default page size and at the old default of 50.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from bench.common import BenchContext, fresh_database, print_table
from spacex_etl.data_mart import read_url_counts
from spacex_etl.entities import ENTITIES
from spacex_etl.extract import SpaceXClient
from spacex_etl.pipeline import run_etl
from spacex_etl.replay import ReplayState, running_replay_server
from spacex_etl.replay.dataset import LIVE_UPCOMING_DELAY_S, Revision, reference_counts
from spacex_etl.settings import Settings

PAGE_SIZES = (Settings.model_fields["page_size"].default, 50)
QUICK_DELAY_S = 0.1


async def _one(ctx: BenchContext, revision: Revision, page_size: int) -> dict[str, Any]:
    delay = QUICK_DELAY_S if ctx.quick else LIVE_UPCOMING_DELAY_S
    state = ReplayState(profile="live", revision=revision, upcoming_delay_s=delay)
    async with fresh_database(ctx.admin_url, "live") as database:
        engine = database.engine
        with running_replay_server(state) as server:
            async with httpx.AsyncClient(timeout=30.0) as http:
                source = SpaceXClient(http, server.url, page_size=page_size)
                started = time.perf_counter()
                report = await run_etl(engine, source, budget_s=120.0)
                wall_s = time.perf_counter() - started
        async with engine.connect() as conn:
            counts = await read_url_counts(conn)
    assert report.ok, report
    assert counts == reference_counts("live"), counts
    return {
        "revision": revision,
        "page_size": page_size,
        "upcoming_delay_s": delay,
        "requests": {name: s.requests for name, s in report.stats.items()},
        "requests_total": sum(s.requests for s in report.stats.values()),
        "wall_s": round(wall_s, 3),
    }


async def run(ctx: BenchContext) -> dict[str, Any]:
    runs = [
        await _one(ctx, revision, page_size)
        for revision in ("current", "2023")
        for page_size in PAGE_SIZES
    ]
    print_table(
        "live: one ETL run against the replayed live API (reference counts checked)",
        ("revision", "page size", *(f"{e} reqs" for e in ENTITIES), "total reqs", "wall s"),
        [
            (
                r["revision"],
                r["page_size"],
                *(r["requests"][e] for e in ENTITIES),
                r["requests_total"],
                r["wall_s"],
            )
            for r in runs
        ],
    )
    return {"runs": runs}
