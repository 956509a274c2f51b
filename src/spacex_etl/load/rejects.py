"""Keep rejected source records for inspection: one row per distinct bad payload.

What is stored is bounded and always storable: the reason is cut to MAX_ERROR_CHARS, and a
payload larger than MAX_STORED_PAYLOAD_BYTES, or one jsonb cannot hold (a NUL, a lone
surrogate), is replaced by a small JSON object giving its size, its hash and its beginning.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from spacex_etl.safe_text import storable_text
from spacex_etl.transform import Rejected

MAX_STORED_PAYLOAD_BYTES: Final = 64 * 1024  # a real record is ~2 KiB
_EXCERPT_CHARS: Final = 1_000
# Escapes jsonb refuses: \u0000 and any UTF-16 surrogate (a lone one is what gets this far).
_UNSTORABLE_ESCAPE: Final = re.compile(r"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")

_INSERT = text(
    """INSERT INTO rejected_records (entity, source_id, reason, payload, payload_hash, run_id)
       SELECT :entity, r.source_id, r.reason, r.payload::jsonb, r.payload_hash, :run_id
       FROM unnest(CAST(:source_ids AS text[]), CAST(:reasons AS text[]),
                   CAST(:payloads AS text[]), CAST(:hashes AS bytea[]))
            AS r(source_id, reason, payload, payload_hash)
       ON CONFLICT (entity, payload_hash) DO NOTHING"""
)


def stored_payload(rejected: Rejected) -> str:
    """The payload as stored: in full when small and storable, else a note about it."""
    payload = rejected.payload
    size = len(payload.encode())
    storable = not _UNSTORABLE_ESCAPE.search(payload)
    if size <= MAX_STORED_PAYLOAD_BYTES and storable:
        return payload
    note = {
        "payload_not_stored": "too large" if storable else "holds NUL or lone surrogates",
        "size_bytes": size,
        "blake2b_128": rejected.payload_hash.hex(),
        # A JSON string holding the JSON text: its escapes are escaped, so jsonb takes it.
        "excerpt": payload[:_EXCERPT_CHARS],
    }
    return orjson.dumps(note).decode()


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
            "reasons": [storable_text(r.reason) for r in rejected],
            "payloads": [stored_payload(r) for r in rejected],
            "hashes": [r.payload_hash for r in rejected],
        },
    )
