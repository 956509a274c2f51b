"""`spacex-etl` command line: run | migrate | etl | scheduler | api | replay | runs | recount."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Annotated

import typer
import uvicorn
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from spacex_etl import data_mart, run_lock, runs
from spacex_etl.api import create_app
from spacex_etl.data_mart import UrlCountCache
from spacex_etl.db import migrate as migrations
from spacex_etl.db.embedded import embedded_postgres
from spacex_etl.db.engine import create_engine
from spacex_etl.db.url import driver_dsn
from spacex_etl.entities import Entity
from spacex_etl.logging import configure_logging
from spacex_etl.pipeline import RunReport
from spacex_etl.replay.dataset import LIVE_UPCOMING_DELAY_S, Profile, Revision
from spacex_etl.runs import EntityStats
from spacex_etl.scheduler import scheduled
from spacex_etl.service import etl_service
from spacex_etl.settings import Settings, get_settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
_log = logging.getLogger("spacex_etl")

EXIT_FAILED = 1
EXIT_SKIPPED = 75  # EX_TEMPFAIL: another process holds the run lock; try again later


@contextmanager
def _database(settings: Settings) -> Iterator[str]:
    """DATABASE_URL, or the embedded server (started here, stopped on exit) when it is unset."""
    if settings.database_url:
        yield settings.database_url
        return
    with embedded_postgres(settings.embedded_pg_dir) as url:
        yield url


@contextmanager
def _command() -> Iterator[tuple[Settings, str]]:
    settings = get_settings()
    configure_logging(settings.log_level)
    with _database(settings) as url:
        yield settings, url


@asynccontextmanager
async def _scheduled_etl(
    settings: Settings, engine: AsyncEngine, *, migrate_url: str | None = None
) -> AsyncIterator[None]:
    # alembic runs its own event loop: give it a thread.
    prepare = (lambda: asyncio.to_thread(migrations.upgrade, migrate_url)) if migrate_url else None
    async with (
        etl_service(settings, engine, prepare) as service,
        scheduled(service.tick, settings.etl_interval_seconds),
    ):
        yield


def _serve(settings: Settings, url: str, *, with_scheduler: bool) -> None:
    engine = create_engine(url)
    application = create_app(
        engine,
        stale_after_s=settings.stale_after_s,
        url_counts=UrlCountCache(driver_dsn(url)),
        background=(
            (lambda: _scheduled_etl(settings, engine, migrate_url=url)) if with_scheduler else None
        ),
        on_shutdown=engine.dispose,
    )
    uvicorn.run(
        application,
        host=settings.api_host,
        port=settings.api_port,
        log_level=settings.log_level.lower(),
        access_log=False,
        # The fast stack, named so a missing wheel fails loudly instead of falling back.
        loop="uvloop",
        http="httptools",
    )


@app.command()
def run() -> None:
    """All in one: the API and the scheduler in this process; migrates before the first run."""
    with _command() as (settings, url):
        _serve(settings, url, with_scheduler=True)


@app.command()
def migrate() -> None:
    """Apply database migrations (alembic upgrade head)."""
    with _command() as (_, url):
        migrations.upgrade(url)
        typer.echo("database is at the latest schema")


@app.command()
def api() -> None:
    """Serve the HTTP API only."""
    with _command() as (settings, url):
        _serve(settings, url, with_scheduler=False)


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()


@app.command()
def scheduler() -> None:
    """Run the ETL every ETL_INTERVAL_SECONDS until SIGTERM or Ctrl-C."""

    async def main(settings: Settings, url: str) -> None:
        engine = create_engine(url)
        try:
            async with _scheduled_etl(settings, engine):
                await _until_signalled()
        finally:
            await engine.dispose()

    with _command() as (settings, url):
        asyncio.run(main(settings, url))


async def _require_schema(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        if await conn.scalar(text("SELECT to_regclass('etl_runs')")) is None:
            raise typer.BadParameter("the database has no schema yet: run `spacex-etl migrate`")


def _print_report(report: RunReport) -> None:
    header = ("entity", "fetched", "inserted", "updated", "unchanged", "deleted", "rejected", "s")
    typer.echo("  ".join(f"{h:>9}" for h in header))
    for name, s in report.stats.items():
        cells = (s.fetched, s.inserted, s.updated, s.unchanged, s.deleted, s.rejected)
        typer.echo(f"{name:>9}  " + "  ".join(f"{c:>9}" for c in cells) + f"  {s.duration_s:>9.3f}")
        if s.error:
            typer.echo(f"{'':>9}  error: {s.error}")
        _print_notes(s)
    typer.echo(f"run {report.run_id}: {report.status} in {report.duration_s:.3f}s")


def _print_notes(stats: EntityStats, indent: str = " " * 11) -> None:
    """Rejects by reason and the source's own warnings, one line each with its count."""
    for reason, count in stats.reject_reasons.items():
        typer.echo(f"{indent}rejected {count} x {reason}")
    for message, count in stats.warnings.items():
        typer.echo(f"{indent}warning {count} x {message}")


@app.command()
def etl() -> None:
    """Run the ETL once; exit 0 on success, 1 on failure or partial success, 75 if skipped."""

    async def main(settings: Settings, url: str) -> RunReport:
        engine = create_engine(url)
        try:
            await _require_schema(engine)
            async with etl_service(settings, engine) as service:
                return await service.run_once()
        finally:
            await engine.dispose()

    with _command() as (settings, url):
        report = asyncio.run(main(settings, url))
    if report.skipped:
        typer.echo("skipped: another ETL run holds the lock", err=True)
        raise typer.Exit(EXIT_SKIPPED)
    _print_report(report)
    if not report.ok:
        raise typer.Exit(EXIT_FAILED)


@app.command()
def recount() -> None:
    """Check the data mart against the tables and repair what differs; exit 75 if a run is on."""

    async def main(url: str) -> dict[Entity, tuple[int, int]] | None:
        engine = create_engine(url)
        try:
            await _require_schema(engine)
            # A load moves the data mart by deltas: recount between runs, never during one.
            async with run_lock.exclusive(engine) as locked:
                if not locked:
                    return None
                async with engine.begin() as conn:
                    return await data_mart.recount(conn)
        finally:
            await engine.dispose()

    with _command() as (_, url):
        differences = asyncio.run(main(url))
    if differences is None:
        typer.echo("skipped: an ETL run holds the lock; try again after it", err=True)
        raise typer.Exit(EXIT_SKIPPED)
    typer.echo(f"{'entity':>9}  {'stored':>9}  {'counted':>9}")
    for entity, (stored, counted) in differences.items():
        verdict = "ok" if stored == counted else f"repaired ({counted - stored:+d})"
        typer.echo(f"{entity:>9}  {stored:>9}  {counted:>9}  {verdict}")


@app.command("runs")
def list_runs(
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many runs to show.")] = 10,
) -> None:
    """Print the latest runs, newest first."""

    async def main(url: str) -> list[runs.Run]:
        engine = create_engine(url)
        try:
            await _require_schema(engine)
            async with engine.connect() as conn:
                return await runs.list_runs(conn, limit=limit)
        finally:
            await engine.dispose()

    with _command() as (_, url):
        history = asyncio.run(main(url))
    typer.echo(f"{'id':>6}  {'started (UTC)':<19}  {'status':<11}  {'seconds':>8}  error")
    for item in history:
        started = item.started_at.strftime("%Y-%m-%d %H:%M:%S")
        seconds = f"{item.duration_s:.2f}" if item.duration_s is not None else "-"
        typer.echo(
            f"{item.id:>6}  {started:<19}  {item.status:<11}  {seconds:>8}  {item.error or ''}"
        )
        for entity, stats in item.stats.items():
            if stats.reject_reasons or stats.warnings:
                typer.echo(f"{'':>8}{entity}:")
                _print_notes(stats, indent=" " * 10)


@app.command()
def replay(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8081,
    profile: Annotated[
        Profile,
        typer.Option(
            help="live: what the default URL serves (v4 data, its quirks); v3: SpaceX Land."
        ),
    ] = "live",
    revision: Annotated[
        Revision,
        typer.Option(help="Live server revision: 2023 adds its broken paging and launch_year."),
    ] = "current",
    upcoming_delay: Annotated[
        float,
        typer.Option(min=0, help="Seconds the live profile waits when `upcoming` is asked for."),
    ] = LIVE_UPCOMING_DELAY_S,
) -> None:
    """Serve the recorded SpaceX data as the GraphQL API (offline runs, tests)."""
    from spacex_etl.replay import ReplayState, serve

    configure_logging(get_settings().log_level)
    if profile == "v3" and revision != "current":
        raise typer.BadParameter("--revision applies to the live profile", param_hint="--revision")
    state = ReplayState(profile=profile, revision=revision, upcoming_delay_s=upcoming_delay)
    serve(host, port, state=state)
