"""nochange: a second load of the same snapshot must write nothing (DESIGN §3)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bench.common import (
    BenchContext,
    aiter_rows,
    checkpoint,
    fresh_database,
    print_table,
    synthetic_rows,
)
from bench.loading import load_snapshot
from spacex_etl import load

FULL_SIZE, QUICK_SIZE = 100_000, 1_000
_TABLES = ("launches", "launch_missions", "object_url_count")

_STATS = """
SELECT relname, n_tup_ins + n_tup_upd + n_tup_del AS written
FROM pg_stat_user_tables WHERE relname = ANY($1::text[])"""


async def _table_writes(conn: asyncpg.Connection) -> dict[str, int]:
    # Stats are cached per transaction by default; drop the cache so each read is current.
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    return {r["relname"]: int(r["written"]) for r in await conn.fetch(_STATS, list(_TABLES))}


async def _flush_stats(conn: AsyncConnection) -> None:
    """Make the loading backend report its table counters now, not up to a second later
    (PostgreSQL 15+); it flushes on going idle, just after this statement answers."""
    await conn.execute(text("SELECT pg_stat_force_next_flush()"))
    await asyncio.sleep(0.3)


async def run(ctx: BenchContext) -> dict[str, Any]:
    size = QUICK_SIZE if ctx.quick else FULL_SIZE
    rows = synthetic_rows(size)
    async with fresh_database(ctx.admin_url, "nochange", pool_size=1) as database:
        engine = database.engine
        observer = await asyncpg.connect(database.dsn)
        try:
            first = await load_snapshot(engine, rows)
            async with engine.connect() as conn:
                await _flush_stats(conn)
            await checkpoint(observer)
            before = await _table_writes(observer)
            wal_before = await observer.fetchval("SELECT pg_current_wal_lsn()")

            # The second load, as `load_snapshot` does it, plus what only the loading
            # transaction can see: its own xid and its own per-table write counters.
            started = time.perf_counter()
            async with engine.begin() as conn:
                xid = await conn.scalar(text("SELECT pg_current_xact_id()::text"))
                await load.copy_to_stage(conn, "launches", aiter_rows(rows))
                counts = await load.merge_stage(conn, "launches", tombstone=True, keep_ids=[])
                in_xact = (
                    await conn.execute(
                        text(
                            "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)"
                            " FROM pg_stat_xact_user_tables WHERE relname = ANY(:t)"
                        ),
                        {"t": list(_TABLES)},
                    )
                ).scalar_one()
            second_s = time.perf_counter() - started
            async with engine.connect() as conn:
                await _flush_stats(conn)
            after = await _table_writes(observer)
            wal_bytes = await observer.fetchval(
                "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1)", wal_before
            )
            # A row the load wrote has its xid as xmin; a row it only locked, as xmax.
            touched = await observer.fetchrow(
                "SELECT count(*) FILTER (WHERE xmin::text = $1) AS new_versions,"
                " count(*) FILTER (WHERE xmax::text = $1) AS locked FROM launches",
                xid,
            )
        finally:
            await observer.close()
    deltas = {table: after[table] - before.get(table, 0) for table in after}
    result = {
        "rows": size,
        "first_load_s": round(first.total_s, 3),
        "second_load_s": round(second_s, 3),
        "second_vs_first": round(second_s / first.total_s, 3),
        "rows_written": sum(deltas.values()),
        "rows_written_per_table": deltas,
        "rows_written_in_transaction": int(in_xact),
        "new_row_versions": int(touched["new_versions"]),
        "rows_locked": int(touched["locked"]),
        "wal_bytes": int(wal_bytes),
        "merge": {"inserted": counts.inserted, "updated": counts.updated},
    }
    print_table(
        "nochange: second load of the same snapshot (target: 0 rows written)",
        (
            "rows",
            "1st load s",
            "2nd load s",
            "2nd/1st",
            "rows written",
            "new versions",
            "rows locked",
            "WAL bytes",
        ),
        [
            (
                size,
                result["first_load_s"],
                result["second_load_s"],
                result["second_vs_first"],
                result["rows_written"],
                result["new_row_versions"],
                result["rows_locked"],
                result["wal_bytes"],
            )
        ],
    )
    return result
