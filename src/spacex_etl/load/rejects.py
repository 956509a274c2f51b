"""Keep rejected source records for inspection: one row per distinct bad payload."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from spacex_etl.transform import Rejected

_INSERT = text(
    """INSERT INTO rejected_records (entity, source_id, reason, payload, payload_hash, run_id)
       SELECT :entity, r.source_id, r.reason, r.payload::jsonb, r.payload_hash, :run_id
       FROM unnest(CAST(:source_ids AS text[]), CAST(:reasons AS text[]),
                   CAST(:payloads AS text[]), CAST(:hashes AS bytea[]))
            AS r(source_id, reason, payload, payload_hash)
       ON CONFLICT (entity, payload_hash) DO NOTHING"""
)


async def store_rejected(
    conn: AsyncConnection, entity: str, run_id: int, rejected: Sequence[Rejected]
) -> None:
    if not rejected:
        return
    await conn.execute(
        _INSERT,
        {
            "entity": entity,
            "run_id": run_id,
            "source_ids": [r.source_id for r in rejected],
            "reasons": [r.reason for r in rejected],
            "payloads": [r.payload for r in rejected],
            "hashes": [r.payload_hash for r in rejected],
        },
    )
