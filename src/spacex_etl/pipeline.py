"""One ETL run: extract → transform → load for every entity type, recorded in `etl_runs`.

Entity types run concurrently, each in its own transaction: one failing leaves the others
loaded and its own previous data intact. An advisory lock makes a run exclusive across
every process sharing the database; a run that loses it stops before its next commit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Final

from opentelemetry.trace import Span, StatusCode
from sqlalchemy.ext.asyncio import AsyncEngine

from spacex_etl import load, run_lock, runs
from spacex_etl.entities import ENTITIES, Entity
from spacex_etl.errors import DATABASE_ERRORS, ContractDriftError, EtlError
from spacex_etl.extract import SpaceXClient
from spacex_etl.observability import metrics
from spacex_etl.observability.run_context import run_context
from spacex_etl.observability.tracing import tracer
from spacex_etl.runs import EntityStats, RunStatus
from spacex_etl.transform import Rejected, transform_page

_log = logging.getLogger(__name__)

# Reject reasons kept per entity in the run record, and the characters kept of each.
_MAX_REASONS = 10
_REASON_CHARS = 300
# A stopped run's entity transactions get this long to roll back, and a run that lost its lock
# this long to record it. Both take milliseconds on a live path; on a silent one they would wait
# until the kernel gives up on the connection (minutes), while the server has long rolled the
# transactions back (idle_in_transaction_session_timeout) and the next run records this one.
_STOP_S: Final = 5.0


@dataclass(slots=True)
class RunReport:
    run_id: int | None
    status: RunStatus | None
    stats: dict[Entity, EntityStats] = field(default_factory=dict)
    duration_s: float = 0.0

    @property
    def skipped(self) -> bool:
        """True when another process held the lock, so this one did not run."""
        return self.run_id is None

    @property
    def ok(self) -> bool:
        return self.status == "success"


@dataclass(frozen=True, slots=True)
class LoadLimits:
    """Where a run stops trusting its source: ETL_MAX_DELETE_FRACTION, ETL_MAX_REJECT_FRACTION."""

    max_delete_fraction: float = 0.5
    max_reject_fraction: float = 0.1


def _check_rejects(
    entity: Entity, fetched: int, rejected: Sequence[Rejected], limits: LoadLimits
) -> None:
    # One bad record costs that record only, whatever the share: 1 of 4 rockets is a record
    # problem, not yet a contract change.
    if len(rejected) > 1 and len(rejected) > limits.max_reject_fraction * fetched:
        reasons = "; ".join(f"{reason} ({count})" for reason, count in _reasons(rejected).items())
        raise ContractDriftError(
            f"{len(rejected)} of {fetched} {entity} rejected (limit "
            f"{limits.max_reject_fraction:.0%}, ETL_MAX_REJECT_FRACTION): {reasons}",
            entity=entity,
        )


def _reasons(rejected: Sequence[Rejected]) -> dict[str, int]:
    """Reject reasons grouped and counted, most frequent first, a bounded number of them."""
    counts = Counter(reject.reason[:_REASON_CHARS] for reject in rejected)
    return dict(counts.most_common(_MAX_REASONS))


async def _load_entity(
    engine: AsyncEngine,
    client: SpaceXClient,
    entity: Entity,
    fence: run_lock.Fence,
    deadline: float,
    limits: LoadLimits,
) -> EntityStats:
    """One entity type in a span of its own. An error nobody expected is recorded as this
    entity's failure: its transaction has rolled back, and the other entity types go on."""
    started = time.perf_counter()
    with tracer.start_as_current_span("etl.entity", attributes={"etl.entity": entity}) as span:
        try:
            stats = await _extract_transform_load(engine, client, entity, fence, deadline, limits)
        except Exception as error:
            _log.exception("%s failed unexpectedly", entity)
            stats = EntityStats(
                error=f"[{entity}] unexpected {type(error).__name__}: {error}",
                duration_s=round(time.perf_counter() - started, 3),
            )
        flat = stats.model_dump(exclude={"error", "reject_reasons", "warnings"})
        span.set_attributes({f"etl.{key}": value for key, value in flat.items()})
        if stats.error:
            span.set_status(StatusCode.ERROR, stats.error)
        return stats


async def _extract_transform_load(
    engine: AsyncEngine,
    client: SpaceXClient,
    entity: Entity,
    fence: run_lock.Fence,
    deadline: float,
    limits: LoadLimits,
) -> EntityStats:
    stats = EntityStats()
    started = time.perf_counter()
    rejected: list[Rejected] = []
    extraction = client.extract(entity, deadline=deadline)

    async def rows() -> AsyncIterator[tuple[Any, ...]]:
        async for page in extraction:
            stats.fetched += len(page)
            with _stage("transform.page", entity, records=len(page)):
                transformed = transform_page(entity, page)
            rejected.extend(transformed.rejected)
            stats.non_url_values += transformed.non_url_values
            for row in transformed.rows:
                yield row

    try:
        async with load.transaction(engine, entity, fence) as conn:
            # Extract and transform run inside the COPY: it pulls the pages as it streams.
            with _stage("load.copy", entity):
                await load.copy_to_stage(conn, entity, rows())
            _check_rejects(entity, stats.fetched, rejected, limits)
            # A rejected record is still listed by the source: keep its last good version.
            keep_ids = [r.source_id for r in rejected if r.source_id is not None]
            with _stage("load.merge", entity):
                counts = await load.merge_stage(
                    conn,
                    entity,
                    tombstone=extraction.complete and len(keep_ids) == len(rejected),
                    keep_ids=keep_ids,
                    max_delete_fraction=limits.max_delete_fraction,
                )
    except EtlError as error:
        stats.error = str(error)
    else:
        stats.inserted, stats.updated, stats.deleted = (
            counts.inserted,
            counts.updated,
            counts.deleted,
        )
        stats.unchanged = counts.unchanged
    if rejected:
        # Kept in a transaction of their own: a type that failed still shows what it refused.
        try:
            async with engine.begin() as conn:
                with _stage("load.rejected", entity, records=len(rejected)):
                    await load.store_rejected(conn, entity, fence.run_id, rejected)
        except DATABASE_ERRORS as error:
            _log.error("%s: could not keep %d rejected records: %r", entity, len(rejected), error)
    stats.rejected = len(rejected)
    stats.reject_reasons = _reasons(rejected)
    stats.warnings = extraction.warning_summary()
    stats.requests = extraction.requests
    stats.duration_s = round(time.perf_counter() - started, 3)
    for reason, count in stats.reject_reasons.items():
        _log.warning("%s: %d rejected: %s", entity, count, reason)
    for message, count in stats.warnings.items():
        _log.warning("%s: source reported %d x: %s", entity, count, message)
    if stats.non_url_values:
        _log.warning("%s: %d URL fields hold a non-URL value", entity, stats.non_url_values)
    if stats.error:
        _log.error("%s failed: %s", entity, stats.error)
    return stats


def _stage(name: str, entity: Entity, **attributes: int) -> AbstractContextManager[Span]:
    extra = {f"etl.{key}": value for key, value in attributes.items()}
    return tracer.start_as_current_span(f"etl.{name}", attributes={"etl.entity": entity, **extra})


def _status(stats: Sequence[EntityStats]) -> RunStatus:
    failed = sum(1 for s in stats if s.error)
    if not failed:
        return "success"
    return "failed" if failed == len(stats) else "partial"


async def _load_entities(
    engine: AsyncEngine,
    client: SpaceXClient,
    fence: run_lock.Fence,
    deadline: float,
    limits: LoadLimits,
) -> dict[Entity, EntityStats]:
    """Every entity type, concurrently, until all are done or the run lock is lost; then the
    ones still going are stopped (each rolls back) and recorded so. Cancelled from outside
    (SIGTERM...), it stops them too before it re-raises."""
    tasks = {
        entity: asyncio.create_task(
            _load_entity(engine, client, entity, fence, deadline, limits), name=f"etl.{entity}"
        )
        for entity in ENTITIES
    }
    lost = asyncio.create_task(fence.lock.wait_lost())
    pending: set[asyncio.Future[Any]] = set(tasks.values())
    try:
        while pending and not lost.done():
            _, pending = await asyncio.wait({*pending, lost}, return_when=asyncio.FIRST_COMPLETED)
            pending.discard(lost)
    except BaseException:
        await _stop(tasks.values(), "interrupted")
        raise
    finally:
        lost.cancel()
    if pending:
        await _stop(tasks.values(), f"{runs.LOST_LOCK}: stopped before its commit")
    return {entity: _outcome(entity, task) for entity, task in tasks.items()}


async def _stop(tasks: Collection[asyncio.Task[EntityStats]], why: str) -> None:
    """Cancel the entity tasks and wait, a bounded time, for their transactions to roll back."""
    for task in tasks:
        task.cancel(why)
    _, stuck = await asyncio.wait(tasks, timeout=_STOP_S)
    if stuck:
        _log.error(
            "%d entity transactions still rolling back after %.0fs (a silent database path?); "
            "the server rolls them back on its own",
            len(stuck),
            _STOP_S,
        )


def _outcome(entity: Entity, task: asyncio.Task[EntityStats]) -> EntityStats:
    if task.done() and not task.cancelled() and task.exception() is None:
        return task.result()
    return EntityStats(error=f"[{entity}] {runs.LOST_LOCK}: stopped, rolled back")


async def run_etl(
    engine: AsyncEngine,
    client: SpaceXClient,
    *,
    budget_s: float,
    limits: LoadLimits = LoadLimits(),
    on_start: Callable[[int], object] | None = None,
) -> RunReport:
    """Run once, unless another process is running.

    Source and load faults are recorded, not raised; `budget_s` bounds the run, retries
    included. Whatever happens, the run's row ends with a status and its cause, never
    `running`: cancellation is recorded `interrupted` (the cancel message is the cause) and
    re-raised; a run that loses the run lock stops before its next commit and is recorded
    `interrupted`, its error beginning "lost the run lock" (or, if the database cannot be
    reached to record it, the next run records it so). Only a database that cannot record the
    run at all raises otherwise. `on_start` gets the run id as soon as the run is recorded (the
    API answers a trigger with it).
    """
    started = time.perf_counter()
    deadline = time.monotonic() + budget_s
    async with run_lock.exclusive(engine) as lock:
        if lock is None:
            _log.info("skipped: another ETL run holds the lock")
            metrics.record_run("skipped", 0.0, {})
            return RunReport(run_id=None, status=None)
        run_id = await runs.start_run(engine)
        if on_start is not None:
            on_start(run_id)
        # Every log line and error report of this run (its entity tasks inherit the context)
        # names the run.
        with run_context(run_id) as span:
            try:
                stats = await _load_entities(engine, client, lock.fence(run_id), deadline, limits)
            except BaseException as error:  # cancelled (SIGTERM...), KeyboardInterrupt, SystemExit
                cancelled = isinstance(error, asyncio.CancelledError)
                cause = (str(error) or "cancelled") if cancelled else f"interrupted: {error!r}"
                metrics.record_run("interrupted", time.perf_counter() - started, {})
                await asyncio.shield(runs.finish_run(engine, run_id, "interrupted", {}, cause))
                raise
            if lock.lost:
                status: RunStatus = "interrupted"
                await _record_lost(engine, run_id, stats, lock.reason)
            else:
                status = _status(list(stats.values()))
                errors = "; ".join(s.error for s in stats.values() if s.error) or None
                await runs.finish_run(engine, run_id, status, stats, errors)
            report = RunReport(run_id, status, stats, round(time.perf_counter() - started, 3))
            metrics.record_run(status, report.duration_s, stats)
            span.set_attribute("etl.status", status)
            _log_summary(report)
    return report


async def _record_lost(
    engine: AsyncEngine, run_id: int, stats: dict[Entity, EntityStats], reason: str | None
) -> None:
    """Record that the run lost its lock, if the database can be reached in time."""
    error = f"{runs.LOST_LOCK}: {reason}; stopped before its next commit"
    try:
        async with asyncio.timeout(_STOP_S):
            await runs.finish_run(engine, run_id, "interrupted", stats, error)
    except DATABASE_ERRORS as failure:
        _log.error(
            "run %d: could not record that it lost the run lock (%r); the next run records it",
            run_id,
            failure,
        )


def _log_summary(report: RunReport) -> None:
    """The run's one summary line: readable text, and the counts as fields for JSON logs."""
    _log.log(
        logging.INFO if report.ok else logging.WARNING,
        "run %d %s in %.2fs: %s",
        report.run_id,
        report.status,
        report.duration_s,
        _summary(report.stats),
        extra={
            "run_summary": True,
            "status": report.status,
            "duration_s": report.duration_s,
            "entities": {
                name: s.model_dump(exclude={"duration_s", "error"})
                for name, s in report.stats.items()
            },
        },
    )


def _summary(stats: dict[Entity, EntityStats]) -> str:
    return "; ".join(
        f"{name}: {s.inserted} new, {s.updated} changed, {s.unchanged} unchanged, "
        f"{s.deleted} deleted, {s.rejected} rejected"
        for name, s in stats.items()
    )
