"""The three ways of writing launches the benches compare: the project's load stage, a bare
COPY (the floor), and the original service's per-row upsert (the ceiling); and a table grown
large in SQL for the benches that read it."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson
from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.common import Row, aiter_rows, synthetic_rows
from spacex_etl import data_mart, load
from spacex_etl.db.tables import launches
from spacex_etl.load import MergeCounts
from spacex_etl.transform import columns

COLUMNS = columns("launches")
SEEDED = 100  # launches loaded through the real load stage; the rest are cloned in SQL


@dataclass(slots=True)
class LoadTiming:
    """Seconds per phase of one load, as the pipeline runs them (one transaction)."""

    counts: MergeCounts | None = None
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def total_s(self) -> float:
        return sum(self.phases.values())


async def load_snapshot(engine: AsyncEngine, rows: Sequence[Row]) -> LoadTiming:
    """One entity load as `pipeline._load_entity` does it, phase by phase: stage COPY, then
    the merge (which also moves the data mart and the launch links).
    """
    timing = LoadTiming()
    clock = time.perf_counter()

    def lap(phase: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timing.phases[phase] = timing.phases.get(phase, 0.0) + now - clock
        clock = now

    async with engine.begin() as conn:
        await load.copy_to_stage(conn, "launches", aiter_rows(rows))
        lap("stage_copy")
        counts = await load.merge_stage(conn, "launches", tombstone=True, keep_ids=[])
        lap("merge")
    lap("commit")
    timing.counts = counts
    return timing


async def bare_copy(engine: AsyncEngine, rows: Sequence[Row]) -> float:
    """Seconds to COPY `rows` into a new, index-free table shaped like `launches` and commit."""
    async with engine.begin() as conn:
        await conn.execute(text("DROP TABLE IF EXISTS bench_bare_copy"))
        await conn.execute(text("CREATE TABLE bench_bare_copy (LIKE launches INCLUDING DEFAULTS)"))
    started = time.perf_counter()
    async with engine.begin() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        assert driver is not None
        await driver.copy_records_to_table(
            "bench_bare_copy", records=aiter_rows(rows), columns=COLUMNS
        )
    elapsed = time.perf_counter() - started
    async with engine.begin() as conn:
        await conn.execute(text("DROP TABLE bench_bare_copy"))
    return elapsed


async def naive_upsert(engine: AsyncEngine, rows: Sequence[Row]) -> float:
    """The original service's way: per record, its own transaction, a SELECT, then INSERT or
    UPDATE. Returns seconds for `rows`."""
    started = time.perf_counter()
    for row in rows:
        values = dict(zip(COLUMNS, row, strict=True))
        values["raw"] = orjson.loads(values["raw"])
        async with engine.begin() as conn:
            stored = await conn.scalar(
                select(launches.c.content_hash).where(launches.c.id == values["id"])
            )
            if stored is None:
                await conn.execute(insert(launches).values(values))
            elif stored != values["content_hash"]:
                await conn.execute(
                    update(launches).where(launches.c.id == values["id"]).values(values)
                )
    async with engine.begin() as conn:
        await data_mart.recount(conn)
    return time.perf_counter() - started


async def empty_launches(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("TRUNCATE launches, launch_missions"))
        await conn.execute(text("UPDATE object_url_count SET url_count = 0"))


async def seed_launches(engine: AsyncEngine) -> None:
    """The launches `grow_launches` clones, loaded through the load stage."""
    await load_snapshot(engine, synthetic_rows(SEEDED))


async def grow_launches(engine: AsyncEngine, total: int) -> int:
    """Grow `launches` to `total` rows server-side by cloning the seeded ones with new ids, and
    ANALYZE it; the rows stored. The readers measured need plausible content, not real content."""
    cols = [c for c in COLUMNS if c not in ("id", "flight_number")]
    clone = f"""
INSERT INTO launches (id, flight_number, {", ".join(cols)})
SELECT g::text, g, {", ".join(f"t.{c}" for c in cols)}
FROM generate_series((SELECT count(*) FROM launches) + 1, {total}) AS g
JOIN launches AS t ON t.id = ((g - 1) % {SEEDED} + 1)::text"""
    async with engine.begin() as conn:
        await conn.execute(text(clone))
    async with engine.begin() as conn:
        await conn.execute(text("ANALYZE launches"))
        return int(await conn.scalar(text("SELECT count(*) FROM launches")) or 0)
