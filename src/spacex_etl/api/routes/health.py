from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from sqlalchemy import text

from spacex_etl.api.deps import Connection
from spacex_etl.api.errors import DATABASE_UNAVAILABLE
from spacex_etl.runs import last_success

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Ready(BaseModel):
    status: Literal["ready", "degraded"]
    database: Literal["ok"] = "ok"
    last_success_at: datetime | None
    last_success_age_s: float | None
    stale_after_s: float


@router.get("/health")
async def health() -> Health:
    """The process is alive (no dependency checked)."""
    return Health()


@router.get(
    "/ready",
    responses={
        **DATABASE_UNAVAILABLE,
        200: {"description": "Ready: a run succeeded within READY_STALE_INTERVALS intervals."},
        503: {
            "description": "Not ready: the database is unreachable, or `degraded` (no recent "
            "successful run) unless READY_DEGRADED_OK",
        },
    },
)
async def ready(request: Request, response: Response, conn: Connection) -> Ready:
    """The database answers and a run succeeded recently (200); else 503, body as for 200."""
    await conn.execute(text("SELECT 1"))
    finished = await last_success(conn)
    stale_after: float = request.app.state.stale_after_s
    age = (datetime.now(UTC) - finished).total_seconds() if finished else None
    fresh = age is not None and age <= stale_after
    if not fresh and not request.app.state.ready_degraded_ok:
        response.status_code = 503
    return Ready(
        status="ready" if fresh else "degraded",
        last_success_at=finished,
        last_success_age_s=round(age, 3) if age is not None else None,
        stale_after_s=stale_after,
    )
