"""Set-based SQL that turns a staged snapshot into table changes: a handful of statements per
entity type, whatever the number of records."""

from __future__ import annotations

from collections.abc import AsyncIterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Boolean, Float, Text, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from spacex_etl import data_mart
from spacex_etl.entities import Entity
from spacex_etl.errors import DeletionRefusedError
from spacex_etl.transform import columns


def stage_table(entity: Entity) -> str:
    return f"_stage_{entity}"


async def copy_to_stage(
    conn: AsyncConnection, entity: Entity, rows: AsyncIterable[tuple[Any, ...]]
) -> None:
    """Stream rows into a temporary stage table with one COPY, as they arrive."""
    # `seq` keeps arrival order so that a record repeated by offset paging resolves to its
    # latest copy. ON COMMIT DROP: the stage never outlives the loading transaction.
    await conn.execute(
        text(
            f"CREATE TEMP TABLE {stage_table(entity)} "
            f"(LIKE {entity} INCLUDING DEFAULTS, seq bigint GENERATED ALWAYS AS IDENTITY) "
            "ON COMMIT DROP"
        )
    )
    driver = (await conn.get_raw_connection()).driver_connection
    if driver is None:
        raise RuntimeError("the pooled connection has no asyncpg connection behind it")
    await driver.copy_records_to_table(stage_table(entity), records=rows, columns=columns(entity))


@dataclass(frozen=True, slots=True)
class MergeCounts:
    """What one merge did: `listed` distinct records staged (the source's list, deduplicated),
    of which `inserted` were new and `updated` changed; `deleted` rows tombstoned."""

    listed: int
    inserted: int
    updated: int
    deleted: int

    @property
    def unchanged(self) -> int:
        return self.listed - self.inserted - self.updated


# Only launches carry links; they are kept in step with the launches this statement wrote.
_LINK_CTES = """
, unlinked AS (
    DELETE FROM launch_missions AS lm USING diff AS d JOIN {stage} AS s ON s.seq = d.seq
    WHERE lm.launch_id = s.id AND lm.mission_id <> ALL(s.mission_ids)
), linked AS (
    INSERT INTO launch_missions (launch_id, mission_id)
    SELECT DISTINCT s.id, m.mission_id
    FROM diff AS d JOIN {stage} AS s ON s.seq = d.seq, unnest(s.mission_ids) AS m(mission_id)
    ON CONFLICT DO NOTHING
)"""


def _merge_sql(entity: Entity) -> str:
    """One statement: dedupe the stage, upsert what changed, tombstone what vanished, keep the
    launch links and the data mart in step.

    Why this shape (bench/README.md has the figures):
    - Duplicates are found by grouping the narrow `id` column, not by sorting whole rows
      (DISTINCT ON sorted every staged record, raw JSON included, spilling to disk at 1M).
    - Changed rows are picked by a join before the INSERT, so ON CONFLICT only sees rows it
      will write: given every row, it locked each unchanged one (WAL, dirtied pages) to skip it.
    - The CTEs read more than once (`src`, `diff`) carry narrow columns and point back into the
      stage by `seq`: carried whole, raw JSON included, they spilled gigabytes at 1M rows.
    - The data mart moves by the delta of the rows written, so a run costs what it changed,
      not a scan of every stored row.
    """
    cols = columns(entity)
    names = ", ".join(cols)
    stage = stage_table(entity)
    updates = ", ".join(f"{col} = excluded.{col}" for col in cols if col != "id")
    links = _LINK_CTES.format(stage=stage) if entity == "launches" else ""
    # Every identifier below is an `Entity` or a column of its table: a closed set, never input.
    return f"""
WITH repeated AS (
    SELECT id, max(seq) AS seq FROM {stage} GROUP BY id HAVING count(*) > 1
), src AS (
    SELECT s.seq, s.id, s.content_hash, s.url_count FROM {stage} AS s
    WHERE NOT EXISTS (SELECT 1 FROM repeated AS r WHERE r.id = s.id AND r.seq <> s.seq)
), diff AS MATERIALIZED (
    SELECT s.seq, s.url_count,
           CASE WHEN t.deleted_at IS NULL THEN coalesce(t.url_count, 0) ELSE 0 END AS old_url_count
    FROM src AS s LEFT JOIN {entity} AS t ON t.id = s.id
    WHERE t.id IS NULL OR t.content_hash IS DISTINCT FROM s.content_hash
       OR t.deleted_at IS NOT NULL
), upserted AS (
    INSERT INTO {entity} AS t ({names})
    SELECT {", ".join(f"s.{col}" for col in cols)} FROM diff AS d JOIN {stage} AS s ON s.seq = d.seq
    ON CONFLICT (id) DO UPDATE SET {updates}, updated_at = now(), deleted_at = NULL
    WHERE t.content_hash IS DISTINCT FROM excluded.content_hash OR t.deleted_at IS NOT NULL
    RETURNING (t.xmax = 0) AS inserted
), doomed AS (
    SELECT t.id FROM {entity} AS t
    WHERE :tombstone AND t.deleted_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM {stage} AS s WHERE s.id = t.id)
      AND t.id <> ALL(:keep_ids)
), guard AS (
    -- Live rows are counted only when something would go: an ordinary run scans nothing more.
    SELECT d.doomed,
           CASE WHEN d.doomed = 0 THEN 0
                ELSE (SELECT count(*) FROM {entity} WHERE deleted_at IS NULL) END AS live
    FROM (SELECT count(*) AS doomed FROM doomed) AS d
), tombstoned AS (
    UPDATE {entity} AS t SET deleted_at = now(), updated_at = now()
    FROM doomed AS d, guard AS g
    WHERE t.id = d.id AND g.doomed <= :max_delete_fraction * g.live
    RETURNING t.url_count
), delta AS (
    SELECT coalesce((SELECT sum(url_count - old_url_count) FROM diff), 0)
         - coalesce((SELECT sum(url_count) FROM tombstoned), 0) AS url_count
), mart AS (
    UPDATE {data_mart.TABLE} AS m
    SET url_count = m.url_count + delta.url_count, refreshed_at = now()
    FROM delta
    WHERE m.entity = :entity
      AND (EXISTS (SELECT 1 FROM upserted) OR EXISTS (SELECT 1 FROM tombstoned))
    -- Delivered at commit, never before: listeners (the API's in-memory copy) move from one
    -- committed snapshot to the next.
    RETURNING pg_notify('{data_mart.CHANNEL}', m.entity)
){links}
SELECT (SELECT count(*) FROM src) AS listed,
       (SELECT doomed FROM guard) AS doomed,
       (SELECT live FROM guard) AS live,
       (SELECT count(*) FROM mart) AS notified,
       (SELECT count(*) FROM upserted WHERE inserted) AS inserted,
       (SELECT count(*) FROM upserted WHERE NOT inserted) AS updated,
       (SELECT count(*) FROM tombstoned) AS deleted
"""  # noqa: S608


async def merge_stage(
    conn: AsyncConnection,
    entity: Entity,
    *,
    tombstone: bool,
    keep_ids: list[str],
    max_delete_fraction: float = 1.0,
) -> MergeCounts:
    """Upsert changed rows, revive reappearing ones, tombstone the vanished; in the same
    statement, move the data mart by what changed and, for launches, resync their links.

    Tombstones need `tombstone`: only a list proven complete shows a record is gone. `keep_ids`
    are records the source still lists but that failed validation: their last good version
    stays, neither updated nor deleted. A merge that would tombstone more than
    `max_delete_fraction` of the live rows raises DeletionRefusedError; the caller's
    transaction then rolls the whole statement back.
    """
    statement = text(_merge_sql(entity)).bindparams(
        bindparam("tombstone", tombstone, type_=Boolean),
        bindparam("keep_ids", keep_ids, type_=ARRAY(Text)),
        bindparam("entity", entity, type_=Text),
        bindparam("max_delete_fraction", max_delete_fraction, type_=Float),
    )
    row = (await conn.execute(statement)).one()
    if row.doomed > max_delete_fraction * row.live:
        raise DeletionRefusedError(
            f"source listed {row.live - row.doomed} of {row.live} {entity}; refusing to delete "
            f"{row.doomed} (limit {max_delete_fraction:.0%}, ETL_MAX_DELETE_FRACTION)",
            entity=entity,
        )
    return MergeCounts(
        listed=row.listed, inserted=row.inserted, updated=row.updated, deleted=row.deleted
    )
