"""`GET /etl/runs` and `GET /etl/runs/{id}`: the run history with per-entity counts and errors."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query

from spacex_etl import runs
from spacex_etl.api.deps import Connection
from spacex_etl.api.errors import DATABASE_UNAVAILABLE

router = APIRouter(prefix="/etl/runs", tags=["run history"], responses=DATABASE_UNAVAILABLE)

# PostgreSQL's bigint: larger numbers are a client error, not a database one.
MAX_BIGINT = 2**63 - 1


@router.get("")
async def list_runs(
    conn: Connection,
    limit: Annotated[int, Query(ge=1, le=500, description="Runs per page.")] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_BIGINT, description="Runs to skip.")] = 0,
) -> list[runs.Run]:
    """Run history, newest first."""
    return await runs.list_runs(conn, limit=limit, offset=offset)


@router.get("/{run_id}", responses={404: {"description": "No such run"}})
async def get_run(conn: Connection, run_id: Annotated[int, Path(ge=1, le=MAX_BIGINT)]) -> runs.Run:
    run = await runs.get_run(conn, run_id)
    if run is None:
        raise HTTPException(status_code=404, detail=f"run {run_id} not found")
    return run
