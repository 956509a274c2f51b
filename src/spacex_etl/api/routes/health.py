"""`GET /health` (the process is alive) and `GET /ready` (database, last run, freshness)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from spacex_etl.api.deps import Connection
from spacex_etl.api.errors import DATABASE_UNAVAILABLE
from spacex_etl.runs import Run, last_finished, last_success

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Ready(BaseModel):
    status: Literal["ready", "degraded"]
    database: Literal["ok"] = "ok"
    last_success_at: datetime | None
    last_success_age_s: float | None
    stale_after_s: float
    reason: str | None = Field(
        default=None, description="Why the status is `degraded`; null when ready."
    )


# Characters of a failed run's error quoted in `reason`; the whole text is at /etl/runs/{id}.
_REASON_CHARS = 500


def _degraded_because(last: Run | None, age: float | None, stale_after: float) -> str | None:
    if last is not None and last.status != "success":
        error = (last.error or "no error recorded")[:_REASON_CHARS]
        return f"last run {last.id} ended {last.status}: {error}"
    if age is None:
        return "no run has succeeded yet"
    if age > stale_after:
        return f"last success {age:.0f}s ago, stale after {stale_after:.0f}s"
    return None


@router.get("/health")
async def health() -> Health:
    """The process is alive (no dependency checked)."""
    return Health()


@router.get("/ready", responses=DATABASE_UNAVAILABLE)
async def ready(request: Request, conn: Connection) -> Ready:
    """The database answers; `degraded` (with the `reason`) when the last run did not succeed
    or no run has succeeded recently."""
    finished = await last_success(conn)
    stale_after: float = request.app.state.stale_after_s
    age = (datetime.now(UTC) - finished).total_seconds() if finished else None
    reason = _degraded_because(await last_finished(conn), age, stale_after)
    return Ready(
        status="degraded" if reason else "ready",
        reason=reason,
        last_success_at=finished,
        last_success_age_s=round(age, 3) if age is not None else None,
        stale_after_s=stale_after,
    )
