"""One entity type's loading transaction: all of it commits, or PostgreSQL's error becomes a
`LoadError` and none of it does; and it commits only while its run holds the run lock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from spacex_etl.entities import Entity
from spacex_etl.errors import DATABASE_ERRORS, LoadError
from spacex_etl.run_lock import Fence


@asynccontextmanager
async def transaction(
    engine: AsyncEngine, entity: Entity, fence: Fence
) -> AsyncIterator[AsyncConnection]:
    """A connection in a transaction that commits at the end of the block, after `fence` has
    checked, as the transaction's last statement, that the run still holds the run lock (else
    `LockLostError`, and it rolls back). A database error inside it (or at commit) rolls it back
    and is raised as LoadError naming `entity`."""
    try:
        async with engine.begin() as conn:
            yield conn
            await fence.check(conn, entity)
    except DATABASE_ERRORS as error:
        raise LoadError(f"rolled back: {error!r}", entity=entity) from error
