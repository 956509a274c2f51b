"""Run history: one `etl_runs` row per run, with per-entity counts and errors."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, computed_field
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from spacex_etl.db.tables import etl_runs
from spacex_etl.entities import Entity
from spacex_etl.safe_text import storable_text

# Error texts quote the source: bounded and storable however they are set.
ErrorText = Annotated[str | None, AfterValidator(lambda value: value and storable_text(value))]

RunStatus = Literal["running", "success", "partial", "failed", "interrupted"]
# How the error of an `interrupted` run that lost the run lock begins, whoever records it: the
# run itself (it stopped before its next commit) or the next run (it found the row `running`).
LOST_LOCK = "lost the run lock"


class EntityStats(BaseModel):
    """What one run did to one entity type."""

    # `error` is set after construction: validate it then too.
    model_config = ConfigDict(validate_assignment=True)

    fetched: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    rejected: int = 0
    non_url_values: int = 0
    # Source round trips this entity's list took.
    requests: int = 0
    duration_s: float = 0.0
    error: ErrorText = None
    # Rejected records by reason, and GraphQL errors that came with the data, by message.
    reject_reasons: dict[str, int] = Field(default_factory=dict)
    warnings: dict[str, int] = Field(default_factory=dict)


class Run(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    started_at: datetime
    finished_at: datetime | None
    status: RunStatus
    stats: dict[str, EntityStats]
    error: ErrorText  # rows stored before errors were bounded are served bounded too

    @computed_field  # type: ignore[prop-decorator]
    @property
    def duration_s(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


async def start_run(engine: AsyncEngine) -> int:
    """Record a new run. The caller holds the run lock, so any run still marked `running`
    belongs to a process or database connection that died mid-run: close it as interrupted.
    Closing it waits for any of its loading transactions between their lock check and their
    COMMIT (see `run_lock.Fence`), and fences out the others: this run writes after it."""
    async with engine.begin() as conn:
        await conn.execute(
            update(etl_runs)
            .where(etl_runs.c.status == "running")
            .values(
                status="interrupted",
                finished_at=func.now(),
                error=f"{LOST_LOCK}: abandoned, its process or database connection went away "
                "mid-run",
            )
        )
        run_id = await conn.scalar(
            insert(etl_runs).values(status="running").returning(etl_runs.c.id)
        )
    if run_id is None:
        raise RuntimeError("INSERT ... RETURNING gave no run id")
    return int(run_id)


async def finish_run(
    engine: AsyncEngine,
    run_id: int,
    status: RunStatus,
    stats: Mapping[Entity, EntityStats],
    error: str | None = None,
) -> None:
    """Close the run. Errors quote the source: each is stored bounded and storable."""
    payload: dict[str, Any] = {name: s.model_dump() for name, s in stats.items()}
    error = error and storable_text(error)
    async with engine.begin() as conn:
        await conn.execute(
            update(etl_runs)
            .where(etl_runs.c.id == run_id)
            .values(status=status, stats=payload, error=error, finished_at=func.now())
        )


async def list_runs(conn: AsyncConnection, *, limit: int, offset: int = 0) -> list[Run]:
    rows = await conn.execute(
        select(etl_runs).order_by(etl_runs.c.id.desc()).limit(limit).offset(offset)
    )
    return [Run.model_validate(row) for row in rows]


async def get_run(conn: AsyncConnection, run_id: int) -> Run | None:
    row = (await conn.execute(select(etl_runs).where(etl_runs.c.id == run_id))).one_or_none()
    return Run.model_validate(row) if row is not None else None


async def last_finished(conn: AsyncConnection) -> Run | None:
    """The newest run that has ended, whatever its status."""
    row = (
        await conn.execute(
            select(etl_runs)
            .where(etl_runs.c.status != "running")
            .order_by(etl_runs.c.id.desc())
            .limit(1)
        )
    ).one_or_none()
    return Run.model_validate(row) if row is not None else None


async def last_success(conn: AsyncConnection) -> datetime | None:
    finished: datetime | None = await conn.scalar(
        select(func.max(etl_runs.c.finished_at)).where(etl_runs.c.status == "success")
    )
    return finished
