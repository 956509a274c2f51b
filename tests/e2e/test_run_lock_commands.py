"""Issue 17's reproduction, as processes: `pg_terminate_backend` on the session that holds the run
lock of a running `spacex-etl etl`, then a second `spacex-etl etl`. The first stops before its
next commit and says so (exit 1); the second takes the lock and loads everything (exit 0)."""

from __future__ import annotations

import asyncio
from asyncio.subprocess import PIPE, Process

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from spacex_etl import run_lock
from spacex_etl.replay import ReplayServer
from tests.e2e.support import CLI, cli_env


async def test_an_etl_whose_lock_session_is_terminated_stops_and_the_next_one_loads(
    replay: ReplayServer, database_url: str, engine: AsyncEngine
) -> None:
    # Launch pages after the first come two seconds apart: the first run is mid-load for a while.
    replay.state.add_fault({"kind": "latency", "seconds": 2, "entity": "launches", "after": 1})
    env = cli_env(DATABASE_URL=database_url, SPACEX_API_URL=replay.url, PAGE_SIZE="25")
    first = await _etl(env)
    try:
        assert await asyncio.to_thread(replay.state.wait_for_requests, "launches", 2, 60)
        async with engine.connect() as conn:
            holder = await conn.scalar(
                text(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = :key"
                    " AND database = (SELECT oid FROM pg_database"
                    "                 WHERE datname = current_database())"
                ),
                {"key": run_lock.ADVISORY_LOCK_KEY},
            )
            assert await conn.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": holder})
        first_out, first_err = await _outputs(first, 60)
    finally:
        if first.returncode is None:
            first.kill()
    replay.state.clear_faults()
    second = await _etl(env)
    second_out, second_err = await _outputs(second, 120)

    assert first.returncode == 1, first_err
    assert "lost the run lock: its session" in first_err
    assert "interrupted" in first_out.splitlines()[-1]
    assert second.returncode == 0, second_err
    launches_row = next(line for line in second_out.splitlines() if "launches" in line)
    assert launches_row.split()[1:3] == ["107", "107"]  # fetched, inserted: none came first
    async with engine.connect() as conn:
        history = (await conn.execute(text("SELECT status, error FROM etl_runs ORDER BY id"))).all()
    assert [status for status, _ in history] == ["interrupted", "success"]
    assert history[0].error.startswith("lost the run lock")


async def _etl(env: dict[str, str]) -> Process:
    return await asyncio.create_subprocess_exec(*CLI, "etl", env=env, stdout=PIPE, stderr=PIPE)


async def _outputs(process: Process, timeout_s: float) -> tuple[str, str]:
    """Its stdout and stderr once it has exited (within `timeout_s`)."""
    out, err = await asyncio.wait_for(process.communicate(), timeout_s)
    return out.decode(), err.decode()
