"""The live source as it really is (../shared/LIVE-API.md), replayed over HTTP into PostgreSQL:
v4 ids, no missions, nulls, partial GraphQL errors, broken paging; and the guards that keep a
broken source from passing for a success."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from spacex_etl.api import create_app
from spacex_etl.db.tables import launches, rejected_records
from spacex_etl.extract import SpaceXClient
from spacex_etl.pipeline import LoadLimits, RunReport, run_etl
from spacex_etl.replay import ReplayServer, ReplayState, running_replay_server
from spacex_etl.replay.dataset import load_recorded
from tests.support import (
    FAST_RETRY,
    LAUNCH_YEAR_2023,
    LIVE_REFERENCE_COUNTS,
    REFERENCE_COUNTS,
    live_count,
    pristine,
    row_versions,
    url_counts,
)

FALCONSAT = "5eb87cd9ffd86e000604b32a"
FALCON_1 = "5e9d0d95eda69955f709d1eb"


@pytest.fixture(scope="session")
def live_server() -> Iterator[ReplayServer]:
    # No 3 s `upcoming` wait here: the bench and the end-to-end test measure the real profile.
    with running_replay_server(ReplayState(profile="live", upcoming_delay_s=0)) as server:
        yield server


@pytest.fixture(scope="session")
def live_2023_server() -> Iterator[ReplayServer]:
    state = ReplayState(profile="live", revision="2023", upcoming_delay_s=0)
    with running_replay_server(state) as server:
        yield server


@pytest.fixture
def live(live_server: ReplayServer) -> Iterator[ReplayServer]:
    with pristine(live_server) as server:
        yield server


@pytest.fixture
def live_2023(live_2023_server: ReplayServer) -> Iterator[ReplayServer]:
    with pristine(live_2023_server) as server:
        yield server


@asynccontextmanager
async def _client(url: str, *, page_size: int = 500, **options: Any) -> AsyncIterator[SpaceXClient]:
    async with httpx.AsyncClient(timeout=5.0) as http:
        yield SpaceXClient(http, url, page_size=page_size, retry=FAST_RETRY, **options)


async def _run(
    engine: AsyncEngine, url: str, *, limits: LoadLimits | None = None, **options: Any
) -> RunReport:
    async with _client(url, **options) as client:
        return await run_etl(engine, client, budget_s=30, limits=limits or LoadLimits())


def _requests(report: RunReport) -> dict[str, int]:
    return {name: stats.requests for name, stats in report.stats.items()}


async def test_live_profile_loads_the_reference_counts_in_one_request_per_entity(
    engine: AsyncEngine, live: ReplayServer
) -> None:
    report = await _run(engine, live.url)

    assert report.status == "success"
    assert {name: s.fetched for name, s in report.stats.items()} == {
        "launches": 205,
        "missions": 0,
        "rockets": 4,
    }
    assert await url_counts(engine) == LIVE_REFERENCE_COUNTS
    # Each launches request costs >= 3 s on the live server: one per entity is the floor.
    assert _requests(report) == {"launches": 1, "missions": 1, "rockets": 1}
    assert live.state.requests()["total"] == 3


async def test_live_launch_columns_hold_their_own_fields(
    engine: AsyncEngine, live: ReplayServer
) -> None:
    """Rows are built by column name: a swapped pair of columns fails here."""
    await _run(engine, live.url)
    async with engine.connect() as conn:
        row = (await conn.execute(select(launches).where(launches.c.id == FALCONSAT))).one()
        links = (
            await conn.execute(text("SELECT launch_id, mission_id FROM launch_missions"))
        ).all()
        resolvable = await conn.scalar(
            text("SELECT count(*) FROM launch_missions JOIN missions ON missions.id = mission_id")
        )
    assert row._mapping == {
        **row._mapping,
        "id": FALCONSAT,
        "flight_number": None,
        "mission_name": "FalconSat",
        "mission_ids": [FALCONSAT],
        "upcoming": False,
        "launch_year": 2006,
        "launch_date_utc": datetime(2006, 3, 24, 22, 30, tzinfo=UTC),
        "launch_date_local": "2006-03-25T10:30:00+12:00",
        "is_tentative": None,
        "tentative_max_precision": None,
        "static_fire_date_utc": datetime(2006, 3, 17, tzinfo=UTC),
        "launch_success": None,
        "details": "Engine failure at 33 seconds and loss of vehicle",
        "site_id": None,
        "rocket_id": FALCON_1,
        "rocket_name": "Falcon 1",
        "rocket_type": "rocket",
        "article_link": "https://www.space.com/2196-spacex-inaugural-falcon-1-rocket-lost-launch.html",
        "flickr_images": [],
        "mission_patch": None,
        "mission_patch_small": None,
        "presskit": None,
        "reddit_launch": None,
        "video_link": "https://www.youtube.com/watch?v=0a_00nJ_Y88",
        "wikipedia": "https://en.wikipedia.org/wiki/DemoSat",
        "url_count": 3,
        "deleted_at": None,
    }
    # launch_missions keeps the source's claim as sent; here it names no mission that exists.
    assert len(links) == 205
    assert resolvable == 0


async def test_unchanged_rerun_on_the_live_profile_writes_nothing(
    engine: AsyncEngine, live: ReplayServer
) -> None:
    await _run(engine, live.url)
    before = await row_versions(engine)

    report = await _run(engine, live.url)

    assert report.status == "success"
    assert {name: (s.inserted, s.updated, s.deleted) for name, s in report.stats.items()} == {
        "launches": (0, 0, 0),
        "missions": (0, 0, 0),
        "rockets": (0, 0, 0),
    }
    assert report.stats["launches"].unchanged == 205
    assert await row_versions(engine) == before


async def test_2023_revision_keeps_the_data_and_reports_its_field_errors_once(
    engine: AsyncEngine, live_2023: ReplayServer
) -> None:
    report = await _run(engine, live_2023.url)

    assert report.status == "success"
    assert await url_counts(engine) == LIVE_REFERENCE_COUNTS
    # 205 identical field errors are one warning with its count, not 205 lines.
    assert report.stats["launches"].warnings == {LAUNCH_YEAR_2023: 205}
    async with engine.connect() as conn:
        year = await conn.scalar(select(launches.c.launch_year).where(launches.c.id == FALCONSAT))
        stored = await conn.scalar(text("SELECT stats -> 'launches' -> 'warnings' FROM etl_runs"))
    assert year == 2006  # the source nulled it; derived from the launch date
    assert stored == {LAUNCH_YEAR_2023: 205}


async def test_2023_paging_bug_is_caught_and_settled_by_a_whole_list_request(
    engine: AsyncEngine, live_2023: ReplayServer
) -> None:
    # limit=50, offset=50 answered [] there: a client stopping at a short page had 50 launches.
    report = await _run(engine, live_2023.url, page_size=50)

    assert report.status == "success"
    assert await url_counts(engine) == LIVE_REFERENCE_COUNTS
    assert report.stats["launches"].inserted == 205
    assert report.stats["launches"].requests == 3  # page 1, the empty page 2, the whole list


@pytest.mark.parametrize(("ignore", "requests"), [("both", 2), ("offset", 3)])
async def test_a_server_ignoring_paging_is_loaded_whole_without_looping(
    engine: AsyncEngine, replay: ReplayServer, ignore: str, requests: int
) -> None:
    replay.state.add_fault({"kind": "ignore_paging", "ignore": ignore})

    report = await _run(engine, replay.url, page_size=25)

    assert report.status == "success"
    assert await url_counts(engine) == REFERENCE_COUNTS
    assert report.stats["launches"].requests == requests


async def test_a_list_past_the_record_limit_fails_its_entity(
    engine: AsyncEngine, replay: ReplayServer
) -> None:
    report = await _run(engine, replay.url, page_size=25, max_records=100)

    assert report.status == "partial"
    assert "more than 100 records, over the limit of 100 (SOURCE_MAX_RECORDS)" in str(
        report.stats["launches"].error
    )
    assert await live_count(engine, "launches") == 0


async def test_a_source_listing_no_launches_deletes_nothing_and_fails(
    engine: AsyncEngine, live: ReplayServer
) -> None:
    await _run(engine, live.url)
    before = await row_versions(engine)
    live.state.set_data("launches", [])

    report = await _run(engine, live.url)

    assert report.status == "partial"
    assert report.stats["launches"].error == (
        "[launches] source listed 0 of 205 launches; refusing to delete 205 "
        "(limit 50%, ETL_MAX_DELETE_FRACTION)"
    )
    assert await live_count(engine, "launches") == 205
    assert await url_counts(engine) == LIVE_REFERENCE_COUNTS
    assert (await row_versions(engine))["launches"] == before["launches"]

    app = create_app(engine, stale_after_s=180)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://a"
    ) as api:
        ready = (await api.get("/ready")).json()
    assert ready["status"] == "degraded"
    assert "refusing to delete 205" in ready["reason"]


async def test_a_mass_deletion_goes_through_when_allowed(
    engine: AsyncEngine, live: ReplayServer
) -> None:
    await _run(engine, live.url)
    live.state.set_data("launches", [])

    report = await _run(engine, live.url, limits=LoadLimits(max_delete_fraction=1.0))

    assert report.status == "success"
    assert report.stats["launches"].deleted == 205
    assert await url_counts(engine) == {**LIVE_REFERENCE_COUNTS, "launches": 0}


def _with_bad_dates(count: int) -> list[dict[str, Any]]:
    records = copy.deepcopy(load_recorded("launches", "live"))
    for record in records[:count]:
        record["date_utc"] = "yesterday"
    return records


async def test_contract_drift_fails_the_entity_and_keeps_the_data(
    engine: AsyncEngine, live: ReplayServer
) -> None:
    await _run(engine, live.url)
    before = await row_versions(engine)
    live.state.set_data("launches", _with_bad_dates(30))  # 30 of 205: past 10%

    report = await _run(engine, live.url)

    stats = report.stats["launches"]
    assert report.status == "partial"
    assert stats.error is not None
    assert stats.error.startswith(
        "[launches] 30 of 205 launches rejected (limit 10%, ETL_MAX_REJECT_FRACTION): "
        "launch_date_utc: "
    )
    assert list(stats.reject_reasons.values()) == [30]
    assert (await row_versions(engine))["launches"] == before["launches"]
    async with engine.connect() as conn:
        kept = await conn.scalar(select(text("count(*)")).select_from(rejected_records))
    assert kept == 30  # refused records are kept for inspection though the type rolled back

    app = create_app(engine, stale_after_s=180)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://a"
    ) as api:
        [run] = (await api.get("/etl/runs", params={"limit": 1})).json()
        ready = (await api.get("/ready")).json()
    assert run["stats"]["launches"]["reject_reasons"] == stats.reject_reasons
    assert ready["status"] == "degraded"
    assert "30 of 205 launches rejected" in ready["reason"]


async def test_a_few_rejects_under_the_limit_load_the_rest(
    engine: AsyncEngine, live: ReplayServer
) -> None:
    live.state.set_data("launches", _with_bad_dates(10))  # 10 of 205: under 10%

    report = await _run(engine, live.url)

    assert report.status == "success"
    assert (report.stats["launches"].inserted, report.stats["launches"].rejected) == (195, 10)


async def test_one_bad_record_is_never_contract_drift_however_short_the_list(
    engine: AsyncEngine, replay: ReplayServer
) -> None:
    # 1 of 4 rockets is 25%, past the 10% limit: still one record's problem, not a changed contract.
    replay.state.add_fault(
        {"kind": "mutate_record", "entity": "rockets", "id": "falcon1", "set": {"active": "yes"}}
    )

    report = await _run(engine, replay.url)

    assert report.status == "success"
    assert (report.stats["rockets"].inserted, report.stats["rockets"].rejected) == (3, 1)


async def test_a_whole_list_past_the_record_limit_fails_its_entity(
    engine: AsyncEngine, replay: ReplayServer
) -> None:
    # A page longer than asked is not taken as data: the whole list settles it, within bounds.
    replay.state.add_fault({"kind": "ignore_paging", "ignore": "both"})

    report = await _run(engine, replay.url, page_size=25, max_records=100)

    assert report.status == "partial"
    assert "the whole list has 107 records, over the limit of 100" in str(
        report.stats["launches"].error
    )
    assert report.stats["launches"].requests == 2
    assert await live_count(engine, "launches") == 0
