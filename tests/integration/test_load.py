"""The load stage on a real PostgreSQL: what one merge writes, and what it leaves alone."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from spacex_etl import data_mart, load
from spacex_etl.load import MergeCounts
from spacex_etl.transform import transform_page


def _launch(flight: int, *, urls: int = 1, missions: Sequence[str] = ("M1",)) -> dict[str, Any]:
    """A minimal GraphQL-shaped launch with `urls` counted URLs."""
    images = [f"https://img.example/{flight}/{n}.jpg" for n in range(urls)]
    return {
        "id": str(flight),
        "mission_name": f"Mission {flight}",
        "mission_id": list(missions),
        "links": {"flickr_images": images, "wikipedia": None},
    }


async def _rows(records: Sequence[dict[str, Any]]) -> AsyncIterator[tuple[Any, ...]]:
    page = transform_page("launches", records)
    assert not page.rejected
    for row in page.rows:
        yield row


async def _load(
    engine: AsyncEngine,
    records: Sequence[dict[str, Any]],
    *,
    tombstone: bool = True,
    keep_ids: Sequence[str] = (),
) -> tuple[MergeCounts, str]:
    """Stage and merge as the pipeline does; returns the counts and the loading xid."""
    async with engine.begin() as conn:
        xid = str(await conn.scalar(text("SELECT pg_current_xact_id()::text")))
        await load.copy_to_stage(conn, "launches", _rows(records))
        counts = await load.merge_stage(
            conn, "launches", tombstone=tombstone, keep_ids=list(keep_ids)
        )
    return counts, xid


async def _mart(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return (await data_mart.read_url_counts(conn))["launches"]


async def _recount(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        total = await conn.scalar(
            text("SELECT coalesce(sum(url_count), 0) FROM launches WHERE deleted_at IS NULL")
        )
    return int(total)


async def test_unchanged_snapshot_writes_and_locks_no_row(engine: AsyncEngine) -> None:
    records = [_launch(n) for n in range(1, 51)]
    await _load(engine, records)

    counts, xid = await _load(engine, records)

    assert (counts.inserted, counts.updated, counts.deleted) == (0, 0, 0)
    async with engine.connect() as conn:
        touched = await conn.scalar(
            text("SELECT count(*) FROM launches WHERE xmin::text = :x OR xmax::text = :x"),
            {"x": xid},
        )
        mart_touched = await conn.scalar(
            text("SELECT count(*) FROM object_url_count WHERE xmin::text = :x"), {"x": xid}
        )
    # ON CONFLICT given every row would lock each unchanged one (xmax) even when it skips it.
    assert touched == 0
    assert mart_touched == 0


async def test_data_mart_follows_inserts_updates_tombstones_and_revivals(
    engine: AsyncEngine,
) -> None:
    await _load(engine, [_launch(1, urls=2), _launch(2, urls=3), _launch(3, urls=1)])
    assert await _mart(engine) == 6 == await _recount(engine)

    # 1 changes (2 → 5 URLs), 2 vanishes, 3 stays, 4 arrives.
    counts, _ = await _load(engine, [_launch(1, urls=5), _launch(3, urls=1), _launch(4, urls=4)])
    assert (counts.inserted, counts.updated, counts.deleted) == (1, 1, 1)
    assert await _mart(engine) == 10 == await _recount(engine)

    # 2 comes back with a different URL count.
    counts, _ = await _load(
        engine, [_launch(1, urls=5), _launch(2, urls=7), _launch(3, urls=1), _launch(4, urls=4)]
    )
    assert (counts.inserted, counts.updated, counts.deleted) == (0, 1, 0)
    assert await _mart(engine) == 17 == await _recount(engine)


async def test_repeated_ids_keep_the_latest_copy(engine: AsyncEngine) -> None:
    counts, _ = await _load(
        engine, [_launch(1, urls=1), _launch(2), _launch(1, urls=3, missions=("M9",))]
    )

    assert (counts.listed, counts.inserted) == (2, 2)
    async with engine.connect() as conn:
        stored = await conn.scalar(text("SELECT url_count FROM launches WHERE id = '1'"))
    assert stored == 3
    assert await _mart(engine) == 4 == await _recount(engine)


async def test_launch_links_follow_the_merge(engine: AsyncEngine) -> None:
    await _load(engine, [_launch(1, missions=("A", "B")), _launch(2, missions=("A",))])
    await _load(engine, [_launch(1, missions=("B", "C")), _launch(2, missions=("A",))])

    async with engine.connect() as conn:
        links = set(
            (await conn.execute(text("SELECT launch_id, mission_id FROM launch_missions"))).all()
        )
    assert links == {("1", "B"), ("1", "C"), ("2", "A")}


async def test_tombstones_need_a_complete_fetch_and_spare_kept_ids(engine: AsyncEngine) -> None:
    await _load(engine, [_launch(1), _launch(2), _launch(3)])

    counts, _ = await _load(engine, [_launch(1)], tombstone=False)
    assert counts.deleted == 0
    counts, _ = await _load(engine, [_launch(1)], keep_ids=["2"])
    assert counts.deleted == 1

    async with engine.connect() as conn:
        alive = (
            await conn.scalars(text("SELECT id FROM launches WHERE deleted_at IS NULL ORDER BY id"))
        ).all()
    assert alive == ["1", "2"]
    assert await _mart(engine) == 2 == await _recount(engine)


async def test_full_recount_agrees_with_the_incremental_data_mart(engine: AsyncEngine) -> None:
    await _load(engine, [_launch(n, urls=n % 4) for n in range(1, 40)])
    await _load(engine, [_launch(n, urls=(n + 1) % 4) for n in range(5, 45)])
    incremental = await _mart(engine)

    async with engine.begin() as conn:
        differences = await data_mart.recount(conn)

    assert differences["launches"] == (incremental, incremental)
    assert await _mart(engine) == incremental == await _recount(engine)


async def test_recount_repairs_a_drifted_data_mart_and_reports_it(engine: AsyncEngine) -> None:
    await _load(engine, [_launch(n, urls=2) for n in range(1, 11)])
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE object_url_count SET url_count = 7"))

    async with engine.begin() as conn:
        differences = await data_mart.recount(conn)

    assert differences == {"launches": (7, 20), "missions": (7, 0), "rockets": (7, 0)}
    assert await _mart(engine) == 20
