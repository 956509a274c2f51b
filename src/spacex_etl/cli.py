"""`spacex-etl` command line: run | migrate | etl | scheduler | api | replay | runs | recount |
token."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from types import FrameType
from typing import Annotated

import typer

from spacex_etl import data_mart, run_lock, runs, token_cli
from spacex_etl.api import create_app
from spacex_etl.api.security import ApiSecurity
from spacex_etl.api.server import serve
from spacex_etl.api.trigger import RunTrigger
from spacex_etl.data_mart import UrlCountCache
from spacex_etl.db.database import API_CALL_TIMEOUT_S, Database
from spacex_etl.db.embedded import EmbeddedPostgresError, embedded_postgres
from spacex_etl.entities import Entity
from spacex_etl.errors import DATABASE_ERRORS, describe_database_error
from spacex_etl.logging import configure_logging
from spacex_etl.observability import metrics
from spacex_etl.observability.sentry import init_sentry
from spacex_etl.observability.tracing import init_tracing
from spacex_etl.pipeline import RunReport
from spacex_etl.preflight import (
    ExitCode,
    FatalError,
    bind_socket,
    check_database,
    load_settings,
)
from spacex_etl.replay.dataset import LIVE_UPCOMING_DELAY_S, Profile, Revision
from spacex_etl.runs import EntityStats
from spacex_etl.scheduler import scheduled
from spacex_etl.service import EtlService, etl_service
from spacex_etl.settings import Settings

# `spacex-etl replay`'s port, and the one the README's offline recipe points SPACEX_API_URL at.
REPLAY_PORT = 8081

# Tracebacks never print local variables: they hold settings, URLs and passwords.
app = typer.Typer(
    no_args_is_help=True, add_completion=False, help=__doc__, pretty_exceptions_show_locals=False
)
app.add_typer(token_cli.app, name="token")
_log = logging.getLogger("spacex_etl")


class _TerminatedError(Exception):
    """SIGTERM, raised in the main thread so that every `finally` (the database's) runs."""


def _raise_terminated(_signum: int, _frame: FrameType | None) -> None:
    raise _TerminatedError


@contextmanager
def _command(*, service: bool = False) -> Iterator[Settings]:
    """Settings and logging for a command; a `FatalError` problem exits with its one line and code.

    SIGTERM and Ctrl-C end a service (`service`) with 0, and a one-shot command with 130.
    """
    signal.signal(signal.SIGTERM, _raise_terminated)
    debug = os.environ.get("LOG_LEVEL", "").upper() == "DEBUG"  # until the settings say
    try:
        settings = load_settings()
        debug = settings.log_level == "DEBUG"
        configure_logging(settings.log_level, settings.log_format, secrets=settings.secret_values())
        init_sentry(settings)
        init_tracing(settings)
        yield settings
    except FatalError as problem:
        if debug:
            _log.exception("fatal")
        typer.echo(f"spacex-etl: {problem}", err=True)
        raise typer.Exit(problem.code) from None
    except (_TerminatedError, KeyboardInterrupt):
        if not service:
            typer.echo("spacex-etl: interrupted", err=True)
        raise typer.Exit(ExitCode.OK if service else ExitCode.INTERRUPTED) from None


@contextmanager
def _database(
    settings: Settings, *, need_schema: bool, must_reach: bool, service: bool = False
) -> Iterator[Database]:
    """The process's database: DATABASE_URL, or the embedded server (started here, stopped on
    exit) when it is unset; checked once: refused credentials or a missing schema are `FatalError`,
    and so is an unreachable server when `must_reach` (else the command starts and keeps retrying).
    A `service` never joins an embedded server another process started: it would outlive it.
    The caller disposes of it, on the event loop that used it."""
    if settings.database_url:
        yield _checked(settings, settings.database_url, need_schema, must_reach)
        return
    try:
        with embedded_postgres(settings.embedded_pg_dir, exclusive=service) as url:
            yield _checked(settings, url, need_schema, must_reach)
    except EmbeddedPostgresError as error:
        raise FatalError(str(error), ExitCode.CONFIG) from error


def _checked(settings: Settings, url: str, need_schema: bool, must_reach: bool) -> Database:
    database = Database(url, statement_timeout_s=settings.statement_timeout_s)
    if asyncio.run(check_database(database, need_schema=need_schema)):
        return database
    where = database.where
    if must_reach:
        raise FatalError(
            f"DATABASE_URL: no database server answers at {where}: is it running?",
            ExitCode.UNAVAILABLE,
        )
    _log.warning("database at %s unreachable for now; retrying until it answers", where)
    return database


@asynccontextmanager
async def _scheduled_etl(
    settings: Settings, database: Database, *, migrate: bool
) -> AsyncIterator[EtlService]:
    """The ETL every interval; with `migrate`, the schema is brought to head before the first run,
    not at start-up, so a database that is down then delays the schema instead of the process."""
    at_head = not migrate
    async with etl_service(settings, database.engine) as service:

        async def tick() -> None:
            nonlocal at_head
            if not at_head:
                try:
                    await database.migrate()
                except DATABASE_ERRORS as error:
                    _log.error("schema not migrated, %s", describe_database_error(error))
                    return
                at_head = True
            await service.tick()

        async with scheduled(tick, settings.etl_interval_seconds):
            yield service


def _serve(settings: Settings, *, with_scheduler: bool) -> None:
    # Bound before the database starts, so a busy port fails at once.
    with (
        bind_socket(settings.api_host, settings.api_port) as sock,
        _database(
            settings, need_schema=not with_scheduler, must_reach=False, service=True
        ) as database,
    ):
        _serve_on(sock, settings, database, with_scheduler=with_scheduler)


def _serve_on(
    sock: socket.socket, settings: Settings, database: Database, *, with_scheduler: bool
) -> None:
    trigger = RunTrigger()

    @asynccontextmanager
    async def background() -> AsyncIterator[None]:
        # POST /etl/runs runs in this process: with the scheduler's service, or (api only) with
        # one of its own; the advisory lock keeps it exclusive with every scheduler.
        async with (
            _scheduled_etl(settings, database, migrate=True)
            if with_scheduler
            else etl_service(settings, database.engine)
        ) as service:
            trigger.runner = service
            yield

    # The API's own pool, every call under a deadline; the ETL's (runs, the trigger) streams
    # for as long as a run lasts and keeps its own limits.
    api_database = Database(
        database.url,
        statement_timeout_s=API_CALL_TIMEOUT_S,
        call_timeout_s=API_CALL_TIMEOUT_S,
    )

    async def dispose() -> None:
        await api_database.dispose()
        await database.dispose()

    application = create_app(
        api_database.engine,
        stale_after_s=settings.stale_after_s,
        ready_degraded_ok=settings.ready_degraded_ok,
        url_counts=UrlCountCache(database.dsn),
        background=background,
        on_shutdown=dispose,
        security=ApiSecurity.from_settings(settings),
        trigger=trigger,
        access_log=settings.access_log,
    )
    host, port = sock.getsockname()[:2]
    _log.info("API on http://%s:%d (OpenAPI docs at /docs)", host, port)
    serve(application, settings, sock)


@app.command()
def run() -> None:
    """All in one: the API and the scheduler in this process; migrates before the first run."""
    with _command(service=True) as settings:
        _serve(settings, with_scheduler=True)


@app.command()
def migrate() -> None:
    """Apply database migrations (alembic upgrade head)."""

    async def main(database: Database) -> None:
        async with database:
            await database.migrate()

    with (
        _command() as settings,
        _database(settings, need_schema=False, must_reach=True) as database,
    ):
        asyncio.run(main(database))
        typer.echo("database is at the latest schema")


@app.command()
def api() -> None:
    """Serve the HTTP API only."""
    with _command(service=True) as settings:
        _serve(settings, with_scheduler=False)


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()


@app.command()
def scheduler() -> None:
    """Run the ETL every ETL_INTERVAL_SECONDS until SIGTERM or Ctrl-C."""

    async def main(settings: Settings, database: Database) -> None:
        async with database, _scheduled_etl(settings, database, migrate=False):
            await _until_signalled()

    with (
        _command(service=True) as settings,
        _database(settings, need_schema=True, must_reach=False, service=True) as database,
    ):
        if settings.metrics_port:
            metrics.serve_metrics(settings.api_host, settings.metrics_port)
        asyncio.run(main(settings, database))


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


def _cancel_on_signals(received: list[signal.Signals]) -> None:
    """SIGINT / SIGTERM cancel the running task, so a run in progress is recorded interrupted."""
    task = asyncio.current_task()
    if task is None:
        raise RuntimeError("signals can only cancel a running task")
    loop = asyncio.get_running_loop()

    def interrupt(signum: signal.Signals) -> None:
        received.append(signum)
        task.cancel(f"interrupted by {signum.name}")

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, interrupt, signum)


@app.command()
def etl() -> None:
    """Run the ETL once; exit 0 on success, 1 on failure or partial success, 75 if skipped;
    on SIGINT / SIGTERM the run is recorded interrupted and the exit code is 128 + signal."""
    received: list[signal.Signals] = []

    async def main(settings: Settings, database: Database) -> RunReport:
        _cancel_on_signals(received)
        async with database, etl_service(settings, database.engine) as service:
            return await service.run_once()

    with (
        _command() as settings,
        _database(settings, need_schema=True, must_reach=True) as database,
    ):
        try:
            report = asyncio.run(main(settings, database))
        except asyncio.CancelledError:
            if not received:
                raise
            typer.echo(f"interrupted by {received[0].name}", err=True)
            raise typer.Exit(128 + received[0]) from None
    if report.skipped:
        typer.echo("skipped: another ETL run holds the lock", err=True)
        raise typer.Exit(ExitCode.SKIPPED)
    _print_report(report)
    if not report.ok:
        raise typer.Exit(ExitCode.FAILED)


@app.command()
def recount() -> None:
    """Check the data mart against the tables and repair what differs; exit 75 if a run is on."""

    async def main(database: Database) -> dict[Entity, tuple[int, int]] | None:
        # A load moves the data mart by deltas: recount between runs, never during one.
        async with database, run_lock.exclusive(database.engine) as locked:
            if not locked:
                return None
            async with database.engine.begin() as conn:
                return await data_mart.recount(conn)

    with (
        _command() as settings,
        _database(settings, need_schema=True, must_reach=True) as database,
    ):
        differences = asyncio.run(main(database))
    if differences is None:
        typer.echo("skipped: an ETL run holds the lock; try again after it", err=True)
        raise typer.Exit(ExitCode.SKIPPED)
    typer.echo(f"{'entity':>9}  {'stored':>9}  {'counted':>9}")
    for entity, (stored, counted) in differences.items():
        verdict = "ok" if stored == counted else f"repaired ({counted - stored:+d})"
        typer.echo(f"{entity:>9}  {stored:>9}  {counted:>9}  {verdict}")


@app.command("runs")
def list_runs(
    limit: Annotated[int, typer.Option(min=1, max=500, help="How many runs to show.")] = 10,
) -> None:
    """Print the latest runs, newest first."""

    async def main(database: Database) -> list[runs.Run]:
        async with database, database.engine.connect() as conn:
            return await runs.list_runs(conn, limit=limit)

    with (
        _command() as settings,
        _database(settings, need_schema=True, must_reach=True) as database,
    ):
        history = asyncio.run(main(database))
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
    port: Annotated[int, typer.Option(help="Port to listen on.")] = REPLAY_PORT,
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
    from spacex_etl.replay import ReplayState
    from spacex_etl.replay import serve as serve_replay

    if profile == "v3" and revision != "current":
        raise typer.BadParameter("--revision applies to the live profile", param_hint="--revision")
    state = ReplayState(profile=profile, revision=revision, upcoming_delay_s=upcoming_delay)
    with (
        _command(service=True) as settings,
        bind_socket(host, port, host_label="--host ", port_label="--port ") as sock,
    ):
        serve_replay(sock, state=state, log_level=settings.log_level.lower())
