"""A full ETL run against the replay server over HTTP and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from spacex_etl.db.tables import launch_missions, launches, rejected_records
from spacex_etl.extract import SpaceXClient
from spacex_etl.pipeline import run_etl
from spacex_etl.replay import ReplayState
from spacex_etl.replay.dataset import load_recorded
from spacex_etl.run_lock import ADVISORY_LOCK_KEY
from tests.support import REFERENCE_COUNTS, row_versions, url_counts


def _launches_without(flight_number: int) -> list[dict[str, Any]]:
    return [r for r in load_recorded("launches") if r["flight_number"] != flight_number]


async def test_full_run_loads_the_reference_counts(
    engine: AsyncEngine, source: SpaceXClient
) -> None:
    report = await run_etl(engine, source, budget_s=30)

    assert report.status == "success"
    assert {name: s.fetched for name, s in report.stats.items()} == {
        "launches": 107,
        "missions": 7,
        "rockets": 4,
    }
    assert {name: s.inserted for name, s in report.stats.items()} == {
        "launches": 107,
        "missions": 7,
        "rockets": 4,
    }
    assert await url_counts(engine) == REFERENCE_COUNTS


async def test_loaded_rows_keep_typed_fields_and_the_raw_record(
    engine: AsyncEngine, source: SpaceXClient
) -> None:
    await run_etl(engine, source, budget_s=30)
    async with engine.connect() as conn:
        falconsat = (await conn.execute(select(launches).where(launches.c.id == "1"))).one()
        links = await conn.scalar(select(text("count(*)")).select_from(launch_missions))
    assert falconsat.mission_name == "FalconSat"
    assert falconsat.flight_number is None  # the source sends none; the id is not one to derive
    assert falconsat.launch_year == 2006
    assert falconsat.launch_date_utc.isoformat() == "2006-03-24T22:30:00+00:00"
    assert falconsat.rocket_id == "falcon1"
    assert falconsat.mission_patch == "https://images2.imgbox.com/40/e3/GypSkayF_o.png"
    assert falconsat.raw["links"]["mission_patch"] == falconsat.mission_patch
    assert falconsat.launch_success is False
    # The recorded launches carry no v3 mission ids (see SOURCES.md), so no links exist yet.
    assert links == 0


async def test_second_run_over_unchanged_data_writes_no_row(
    engine: AsyncEngine, source: SpaceXClient
) -> None:
    await run_etl(engine, source, budget_s=30)
    before = await row_versions(engine)

    report = await run_etl(engine, source, budget_s=30)

    assert report.status == "success"
    for name, stats in report.stats.items():
        assert (stats.inserted, stats.updated, stats.deleted) == (0, 0, 0), name
    assert report.stats["launches"].unchanged == 107
    assert await row_versions(engine) == before


async def test_record_gone_from_the_source_is_tombstoned_and_not_counted(
    engine: AsyncEngine, source: SpaceXClient, replay_state: ReplayState
) -> None:
    await run_etl(engine, source, budget_s=30)
    crew_1 = next(r for r in load_recorded("launches") if r["flight_number"] == 107)
    links = crew_1["links"]
    crew_1_urls = len(links["flickr_images"]) + sum(
        1 for k, v in links.items() if k != "flickr_images" and v
    )
    replay_state.set_data("launches", _launches_without(107))

    report = await run_etl(engine, source, budget_s=30)

    assert report.stats["launches"].deleted == 1
    counts = await url_counts(engine)
    assert counts["launches"] == REFERENCE_COUNTS["launches"] - crew_1_urls
    async with engine.connect() as conn:
        deleted_at = await conn.scalar(select(launches.c.deleted_at).where(launches.c.id == "107"))
    assert deleted_at is not None

    replay_state.reset()
    report = await run_etl(engine, source, budget_s=30)
    assert report.stats["launches"].updated == 1
    assert await url_counts(engine) == REFERENCE_COUNTS


async def test_changed_url_changes_the_count(
    engine: AsyncEngine, source: SpaceXClient, replay_state: ReplayState
) -> None:
    await run_etl(engine, source, budget_s=30)
    changed = copy.deepcopy(load_recorded("launches"))
    changed[0]["links"]["article_link"] = None
    changed[1]["links"]["wikipedia"] = "see the wiki"
    replay_state.set_data("launches", changed)

    report = await run_etl(engine, source, budget_s=30)

    assert report.stats["launches"].updated == 2
    assert report.stats["launches"].non_url_values == 1
    assert (await url_counts(engine))["launches"] == REFERENCE_COUNTS["launches"] - 2
    async with engine.connect() as conn:
        kept = await conn.scalar(select(launches.c.wikipedia).where(launches.c.id == "2"))
    assert kept == "see the wiki"  # stored as received, just not counted


async def test_malformed_record_is_rejected_and_the_rest_load(
    engine: AsyncEngine, source: SpaceXClient, replay_state: ReplayState
) -> None:
    replay_state.add_fault(
        {"kind": "mutate_record", "entity": "launches", "id": "5", "set": {"upcoming": "no"}}
    )

    report = await run_etl(engine, source, budget_s=30)

    stats = report.stats["launches"]
    assert report.status == "success"
    assert (stats.fetched, stats.inserted, stats.rejected) == (107, 106, 1)
    async with engine.connect() as conn:
        rejected = (await conn.execute(select(rejected_records))).one()
        stored = await conn.scalar(select(text("count(*)")).select_from(launches))
    assert rejected.entity == "launches"
    assert rejected.source_id == "5"
    assert "upcoming" in rejected.reason
    assert rejected.payload["upcoming"] == "no"
    assert rejected.run_id == report.run_id
    assert stored == 106


async def test_rejected_record_keeps_its_last_good_version(
    engine: AsyncEngine, source: SpaceXClient, replay_state: ReplayState
) -> None:
    await run_etl(engine, source, budget_s=30)
    replay_state.add_fault(
        {"kind": "mutate_record", "entity": "launches", "id": "5", "unset": ["id"]}
    )
    replay_state.add_fault(
        {"kind": "mutate_record", "entity": "launches", "id": "6", "set": {"upcoming": "no"}}
    )

    report = await run_etl(engine, source, budget_s=30)

    stats = report.stats["launches"]
    assert (stats.rejected, stats.updated, stats.deleted) == (2, 0, 0)
    assert await url_counts(engine) == REFERENCE_COUNTS


async def test_a_run_held_off_by_the_lock_skips(engine: AsyncEngine, source: SpaceXClient) -> None:
    async with engine.connect() as holder:
        await holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": ADVISORY_LOCK_KEY})
        skipped = await run_etl(engine, source, budget_s=30)
        await holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_LOCK_KEY})

    assert skipped.skipped
    assert await url_counts(engine) == {"launches": 0, "missions": 0, "rockets": 0}
    assert (await run_etl(engine, source, budget_s=30)).status == "success"


async def test_concurrent_runs_load_once(
    engine: AsyncEngine, database_url: str, source: SpaceXClient
) -> None:
    from spacex_etl.db.database import Database

    other = Database(database_url).engine
    try:
        reports = await asyncio.gather(
            run_etl(engine, source, budget_s=30), run_etl(other, source, budget_s=30)
        )
    finally:
        await other.dispose()

    ran = [r for r in reports if not r.skipped]
    assert sum(r.stats["launches"].inserted for r in ran) == 107
    assert all(r.status == "success" for r in ran)
    async with engine.connect() as conn:
        recorded = await conn.scalar(text("SELECT count(*) FROM etl_runs"))
    assert recorded == len(ran)
    assert await url_counts(engine) == REFERENCE_COUNTS


async def test_record_repeated_by_paging_is_loaded_once_latest_copy_winning(
    engine: AsyncEngine, source: SpaceXClient, replay_state: ReplayState
) -> None:
    records = load_recorded("launches")
    repeated = copy.deepcopy(records[0])
    repeated["details"] = "the later copy"
    replay_state.set_data("launches", [*records, repeated])

    report = await run_etl(engine, source, budget_s=30)

    stats = report.stats["launches"]
    assert report.ok
    assert (stats.fetched, stats.inserted) == (108, 107)
    async with engine.connect() as conn:
        details = await conn.scalar(select(launches.c.details).where(launches.c.id == "1"))
    assert details == "the later copy"
