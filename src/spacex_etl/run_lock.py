"""The run lock: one ETL run (or data mart repair) at a time across every process sharing the
database, as a PostgreSQL session-level advisory lock."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from spacex_etl.errors import DATABASE_ERRORS

_log = logging.getLogger(__name__)

# Any fixed 64-bit number works; this one spells the service so it is recognisable in pg_locks.
ADVISORY_LOCK_KEY: Final = 0x5ACE_E7_1


@asynccontextmanager
async def exclusive(engine: AsyncEngine) -> AsyncIterator[bool]:
    """Hold the run lock for the block; yields False (and holds nothing) if another has it."""
    async with engine.connect() as conn:
        key = {"key": ADVISORY_LOCK_KEY}
        locked = bool(await conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), key))
        await conn.commit()  # the lock is session-level; don't sit idle in a transaction
        try:
            yield locked
        finally:
            if locked:
                try:
                    await conn.execute(text("SELECT pg_advisory_unlock(:key)"), key)
                    await conn.commit()
                except DATABASE_ERRORS:
                    # A lost connection has released the lock with its session.
                    _log.warning("could not release the run lock; its session is gone")
