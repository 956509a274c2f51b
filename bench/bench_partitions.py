"""partitions (roadmap): does partitioning launches by launch_year help at 10M rows?

Rows are lean and made server-side (generate_series; a small `raw` jsonb instead of the ~2 KB
record) so 10M of them fit in minutes. Each variant gets a database of its own and the same
three jobs: the initial bulk insert, the data mart's full sum, and one run's merge of a full
snapshot in which 1% of the records changed (the load's statement shape: changed rows only,
then ON CONFLICT).

A partitioned table's primary key must contain the partition key, so it is (id, launch_year)
and the merge can only conflict on both: a launch whose year changes (an upcoming launch that
slips past new year) would become a second row. The bench measures speed; that caveat stands.
"""

from __future__ import annotations

import time
from typing import Any

import asyncpg

from bench.common import BenchContext, checkpoint, fresh_database, print_table
from spacex_etl.transform import columns

FULL_ROWS, QUICK_ROWS = 10_000_000, 20_000
YEARS = range(2006, 2026)
CHANGED_EVERY = 100  # 1% of the snapshot changes between runs

_COLS = columns("launches")

# One lean launch per g, in `columns("launches")` order: typed columns filled, URLs on most,
# raw a small object.
_ROW = """
g::text, g, 'Mission ' || g, ARRAY['M' || (g % 50)], false, {year},
timestamptz '2006-01-01' + g * interval '1 minute', '2006-01-01T00:00:00+00:00', false, 'hour',
NULL, g % 7 <> 0, 'Synthetic launch ' || g, 'site_' || (g % 5), 'Site', 'Launch site',
'falcon9', 'Falcon 9', 'FT', 'https://news.example/' || g,
ARRAY['https://farm.example/' || g || '.jpg', 'https://farm.example/' || g || 'b.jpg'],
'https://patch.example/' || g, NULL, NULL, NULL,
'https://reddit.example/' || g, NULL, NULL, 'https://video.example/' || g,
'https://wiki.example/' || g,
8, jsonb_build_object('id', g::text, 'n', g % 1000), decode(md5(g::text), 'hex')
"""


def _year(g: str = "g") -> str:
    return f"{YEARS.start} + {g} % {len(YEARS)}"


def _create(partitioned: bool) -> list[str]:
    if not partitioned:
        return [
            "CREATE TABLE pl (LIKE launches INCLUDING DEFAULTS, PRIMARY KEY (id))",
            "CREATE INDEX ON pl (launch_date_utc)",
        ]
    statements = [
        "CREATE TABLE pl (LIKE launches INCLUDING DEFAULTS, PRIMARY KEY (id, launch_year))"
        " PARTITION BY RANGE (launch_year)",
        "CREATE INDEX ON pl (launch_date_utc)",
    ]
    statements += [
        f"CREATE TABLE pl_{year} PARTITION OF pl FOR VALUES FROM ({year}) TO ({year + 1})"
        for year in YEARS
    ]
    statements.append("CREATE TABLE pl_other PARTITION OF pl DEFAULT")
    return statements


def _merge_sql(partitioned: bool) -> str:
    names = ", ".join(_COLS)
    conflict = "(id, launch_year)" if partitioned else "(id)"
    updates = ", ".join(f"{c} = excluded.{c}" for c in _COLS if c not in ("id", "launch_year"))
    return f"""
INSERT INTO pl AS t ({names})
SELECT {", ".join(f"s.{c}" for c in _COLS)} FROM stage AS s
LEFT JOIN pl AS o ON o.id = s.id
WHERE o.id IS NULL OR o.content_hash IS DISTINCT FROM s.content_hash OR o.deleted_at IS NOT NULL
ON CONFLICT {conflict} DO UPDATE SET {updates}, updated_at = now(), deleted_at = NULL"""


async def _timed(conn: asyncpg.Connection, sql: str) -> float:
    started = time.perf_counter()
    await conn.execute(sql)
    return time.perf_counter() - started


async def _variant(ctx: BenchContext, rows: int, partitioned: bool) -> dict[str, Any]:
    label = "partitioned" if partitioned else "plain"
    async with fresh_database(ctx.admin_url, f"part_{label}") as database:
        conn = await asyncpg.connect(database.dsn, command_timeout=None)
        try:
            for statement in _create(partitioned):
                await conn.execute(statement)
            await checkpoint(conn)
            fill = f"INSERT INTO pl ({', '.join(_COLS)}) SELECT {_ROW.format(year=_year())}"
            fill += f" FROM generate_series(1, {rows}) AS g"
            fill_s = await _timed(conn, fill)
            await conn.execute("VACUUM ANALYZE pl")
            size = await conn.fetchval("SELECT pg_total_relation_size('pl')")
            if partitioned:
                size = await conn.fetchval(
                    "SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('pl')"
                )
            refresh = "SELECT coalesce(sum(url_count), 0) FROM pl WHERE deleted_at IS NULL"
            refresh_s = min([await _timed(conn, refresh) for _ in range(3)])
            # The next run's snapshot: every record, 1 in CHANGED_EVERY with new content.
            await conn.execute(
                f"CREATE TEMP TABLE stage AS SELECT {', '.join(_COLS)} FROM pl WITH NO DATA"
            )
            await conn.execute(
                f"INSERT INTO stage SELECT {', '.join(_COLS[:-1])},"
                f" CASE WHEN flight_number % {CHANGED_EVERY} = 0"
                " THEN decode(md5('changed' || id), 'hex') ELSE content_hash END FROM pl"
            )
            await conn.execute("ANALYZE stage")
            await checkpoint(conn)
            async with conn.transaction():
                merge_s = await _timed(conn, _merge_sql(partitioned))
        finally:
            await conn.close()
    return {
        "variant": label,
        "rows": rows,
        "fill_s": round(fill_s, 2),
        "table_mib": round(int(size) / 2**20),
        "data_mart_sum_s": round(refresh_s, 3),
        "merge_1pct_changed_s": round(merge_s, 2),
    }


async def run(ctx: BenchContext) -> dict[str, Any]:
    rows = QUICK_ROWS if ctx.quick else FULL_ROWS
    plain = await _variant(ctx, rows, partitioned=False)
    parted = await _variant(ctx, rows, partitioned=True)
    ratios = {
        key: round(parted[key] / plain[key], 3) if plain[key] else None
        for key in ("fill_s", "data_mart_sum_s", "merge_1pct_changed_s")
    }
    gains = all(r is not None and r < 0.9 for r in ratios.values())
    print_table(
        f"partitions: launches by launch_year ({len(YEARS)} ranges + default) vs one table,"
        f" {rows:,} lean rows",
        ("variant", "MiB", "bulk insert s", "data mart sum s", "merge (1% changed) s"),
        [
            (
                r["variant"],
                r["table_mib"],
                r["fill_s"],
                r["data_mart_sum_s"],
                r["merge_1pct_changed_s"],
            )
            for r in (plain, parted)
        ]
        + [
            (
                "partitioned/plain",
                "",
                ratios["fill_s"],
                ratios["data_mart_sum_s"],
                ratios["merge_1pct_changed_s"],
            )
        ],
    )
    decision = "adopt" if gains else "do not adopt"
    print(f"decision: {decision} (adopt only if every job gains at least 10%)")
    return {"rows": rows, "variants": [plain, parted], "ratios": ratios, "decision": decision}
