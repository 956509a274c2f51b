"""The run lock: one ETL run (or data mart repair) at a time across every process sharing the
database, as a PostgreSQL session-level advisory lock, watched for as long as it is held.

A session-level lock lives exactly as long as its session, and a session can end without its
client knowing: `pg_terminate_backend`, an idle-session killer, a pooler, the server dropping a
client its TCP keepalive found gone. Another process then takes the lock and runs. So the
holder is told, and cannot write past the loss:

- its session is watched: a termination is noticed at once, and a heartbeat that goes
  unanswered past its deadline (`db.heartbeat`: a path that stopped carrying packets without a
  FIN) counts as a loss too;
- every loading transaction runs `Fence.check` right before its COMMIT, in the same transaction
  as its data, so a run that lost its lock cannot commit even before it has been told.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Final

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from spacex_etl.db.heartbeat import until_silent
from spacex_etl.errors import DATABASE_ERRORS, EtlError

_log = logging.getLogger(__name__)

# Any fixed 64-bit number works; this one spells the service so it is recognisable in pg_locks.
ADVISORY_LOCK_KEY: Final = 0x5ACE_E7_1
_LOCK_SQL: Final = text(
    "SELECT pg_try_advisory_lock(:key) AS locked, pg_backend_pid() AS pid"
).bindparams(key=ADVISORY_LOCK_KEY)

# Inside a loading transaction, right before its COMMIT (one statement):
# - the run's row is still `running`, and stays so until this transaction ends (FOR SHARE): the
#   next run's `start_run` closes the rows of runs gone astray, so it waits for this COMMIT, and
#   once it has committed this finds no row. No commit of this run follows the next run's start;
# - the lock's session still holds the lock (pg_locks shows a bigint key as classid = its high
#   32 bits, objid = its low 32, objsubid = 1): a run stops at a loss even before anyone else runs.
_FENCE_SQL: Final = text(
    """
SELECT EXISTS (
    SELECT FROM pg_locks
    WHERE locktype = 'advisory' AND granted AND pid = :pid
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND classid = :classid AND objid = :objid AND objsubid = 1
) AS held
FROM etl_runs WHERE id = :run_id AND status = 'running'
FOR SHARE
"""
).bindparams(classid=ADVISORY_LOCK_KEY >> 32, objid=ADVISORY_LOCK_KEY & 0xFFFF_FFFF)


class LockLostError(EtlError):
    """The run lock was lost mid-run: what had not committed is rolled back, nothing more is."""


class HeldLock:
    """The run lock while this process holds it: the backend pid of its session, and whether
    it is known lost (`lost`, `wait_lost()`, `reason`)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.reason: str | None = None
        self._lost = asyncio.Event()

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    async def wait_lost(self) -> None:
        await self._lost.wait()

    def lose(self, reason: str) -> None:
        """Record the loss (the first reason stays) and wake whoever waits for it."""
        if self.lost:
            return
        self.reason = reason
        _log.error("lost the run lock: %s", reason)
        self._lost.set()

    def fence(self, run_id: int) -> Fence:
        return Fence(self, run_id)


@dataclass(frozen=True, slots=True)
class Fence:
    """What a loading transaction of run `run_id` checks before it commits."""

    lock: HeldLock
    run_id: int

    async def check(self, conn: AsyncConnection, entity: str) -> None:
        """Raise LockLostError (and mark the lock lost) unless this run still holds the lock;
        run in `entity`'s loading transaction, as its last statement before COMMIT."""
        params = {"pid": self.lock.pid, "run_id": self.run_id}
        held = (await conn.execute(_FENCE_SQL, params)).scalar_one_or_none()
        if held:
            return
        reason = (
            f"run {self.run_id} is no longer `running` (another run closed it)"
            if held is None
            else f"its session (backend {self.lock.pid}) no longer holds it"
        )
        self.lock.lose(reason)
        raise LockLostError(f"rolled back at commit: {reason}", entity=entity)


async def _watch(driver: asyncpg.Connection, lock: HeldLock) -> None:
    reason = await until_silent(driver)
    lock.lose(f"its session (backend {lock.pid}) {reason}")


@asynccontextmanager
async def exclusive(engine: AsyncEngine) -> AsyncIterator[HeldLock | None]:
    """Hold the run lock for the block, watched; yields None (and holds nothing) if another
    process has it."""
    async with engine.connect() as conn:
        row = (await conn.execute(_LOCK_SQL)).one()
        await conn.commit()  # the lock is session-level; don't sit idle in a transaction
        if not row.locked:
            yield None
            return
        driver = (await conn.get_raw_connection()).driver_connection
        if driver is None:
            raise RuntimeError("the pooled connection has no asyncpg connection behind it")
        lock = HeldLock(int(row.pid))

        def terminated(_: object) -> None:
            lock.lose(f"its session (backend {lock.pid}) was closed")

        driver.add_termination_listener(terminated)
        heartbeat = asyncio.create_task(_watch(driver, lock))
        try:
            yield lock
        finally:
            heartbeat.cancel()
            with suppress(asyncio.CancelledError):
                await heartbeat
            driver.remove_termination_listener(terminated)
            await _release(conn, lock)


async def _release(conn: AsyncConnection, lock: HeldLock) -> None:
    if lock.lost:
        # Its session is gone or unreachable: never back to the pool, and no round trip that
        # could hang on a silent path.
        await conn.invalidate()
        return
    try:
        await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY})
        await conn.commit()
    except DATABASE_ERRORS:
        # A lost connection has released the lock with its session.
        _log.warning("could not release the run lock; its session is gone")
