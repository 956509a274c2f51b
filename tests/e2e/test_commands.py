"""The commands as a user runs them: real processes, real ports, embedded or given PostgreSQL."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from spacex_etl.data_mart import URL_COUNTS_SQL as COUNTS_SQL
from spacex_etl.db.embedded import server_processes
from spacex_etl.db.url import driver_dsn
from spacex_etl.replay import ReplayServer
from spacex_etl.replay.dataset import load_recorded
from tests.e2e.support import CLI, UNREACHABLE, Service, cli_env, cli_service
from tests.local_servers import free_port
from tests.support import (
    ADVISORY_LOCKS_HERE,
    LAUNCH_YEAR_2023,
    LIVE_REFERENCE_COUNTS,
    REFERENCE_COUNTS,
)


def test_run_on_embedded_postgres_serves_the_reference_counts(
    replay: ReplayServer, tmp_path: Path
) -> None:
    pgdata = tmp_path / "pgdata"
    env = cli_env(SPACEX_API_URL=replay.url, EMBEDDED_PG_DIR=str(pgdata))
    with cli_service("run", env) as service:
        assert replay.url in service.wait_for_log("source:")
        service.wait_for_log("run 1 success")
        response = httpx.get(f"{service.url}/data_mart/object_url_count", timeout=10)
        assert response.json() == REFERENCE_COUNTS
        assert len(server_processes(pgdata)) == 1
        # Another command on the same folder joins the running server and leaves it running.
        history = subprocess.run([*CLI, "runs"], env=env, capture_output=True, text=True)
        assert history.returncode == 0, history.stderr
        assert "success" in history.stdout
        assert httpx.get(f"{service.url}/ready", timeout=10).status_code == 200
        service.process.send_signal(signal.SIGTERM)
        service.wait_for_log("scheduler stopped", timeout=20)
        assert service.process.wait(timeout=20) == 0  # a requested stop is a clean exit
    assert server_processes(pgdata) == []  # the embedded server stopped with its process

    # The data folder persists: a restart finds the data already loaded.
    with cli_service("run", env) as service:
        line = service.wait_for_log("run 2 success")
        assert "launches: 0 new, 0 changed, 107 unchanged, 0 deleted, 0 rejected" in line
        service.process.send_signal(signal.SIGINT)  # Ctrl-C
        assert service.process.wait(timeout=20) == 0
    assert server_processes(pgdata) == []


def test_service_stays_up_when_the_source_is_unreachable(
    tmp_path: Path,
) -> None:
    env = cli_env(SPACEX_API_URL=UNREACHABLE, EMBEDDED_PG_DIR=str(tmp_path / "pgdata"))
    with cli_service("run", env) as service:
        service.wait_for_log("run 1 failed")
        assert "spacex-etl replay" in service.wait_for_log("did not answer")
        assert httpx.get(f"{service.url}/health", timeout=10).json() == {"status": "ok"}
        assert httpx.get(f"{service.url}/ready", timeout=10).status_code == 503
        counts = httpx.get(f"{service.url}/data_mart/object_url_count", timeout=10)
        assert counts.json() == {"launches": 0, "missions": 0, "rockets": 0}
        assert counts.headers["X-Data-Mart-Status"] == "empty"
        [run] = httpx.get(f"{service.url}/etl/runs", timeout=10).json()
        assert run["status"] == "failed"
        assert "connection failed" in run["stats"]["launches"]["error"]


def test_migrate_then_etl_on_a_given_database(replay: ReplayServer, database_url: str) -> None:
    env = cli_env(DATABASE_URL=database_url, SPACEX_API_URL=replay.url)

    migrate = subprocess.run([*CLI, "migrate"], env=env, capture_output=True, text=True)
    assert migrate.returncode == 0, migrate.stderr
    first = subprocess.run([*CLI, "etl"], env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert "success" in first.stdout
    launches = next(line for line in first.stdout.splitlines() if "launches" in line).split()
    assert launches[1:4] == ["107", "107", "0"]  # fetched, inserted, updated

    history = subprocess.run([*CLI, "runs"], env=env, capture_output=True, text=True)
    assert history.returncode == 0
    assert "success" in history.stdout

    failing = subprocess.run(
        [*CLI, "etl"], env={**env, "SPACEX_API_URL": UNREACHABLE}, capture_output=True, text=True
    )
    assert failing.returncode == 1
    assert "failed" in failing.stdout


def test_recount_repairs_a_drifted_data_mart(replay: ReplayServer, database_url: str) -> None:
    env = cli_env(DATABASE_URL=database_url, SPACEX_API_URL=replay.url)
    assert subprocess.run([*CLI, "etl"], env=env, capture_output=True).returncode == 0
    _rows(database_url, "UPDATE object_url_count SET url_count = 1 WHERE entity = 'launches'")

    repair = subprocess.run([*CLI, "recount"], env=env, capture_output=True, text=True)
    again = subprocess.run([*CLI, "recount"], env=env, capture_output=True, text=True)

    assert repair.returncode == 0, repair.stderr
    assert "launches          1       1541  repaired (+1540)" in repair.stdout
    assert "missions         20         20  ok" in repair.stdout
    assert dict(_rows(database_url, COUNTS_SQL)) == REFERENCE_COUNTS
    assert again.returncode == 0
    assert "repaired" not in again.stdout


def test_etl_on_an_unmigrated_database_says_what_to_do(
    empty_database_url: str, replay: ReplayServer
) -> None:
    env = cli_env(DATABASE_URL=empty_database_url, SPACEX_API_URL=replay.url)
    result = subprocess.run([*CLI, "etl"], env=env, capture_output=True, text=True)
    assert result.returncode == 65
    assert "spacex-etl migrate" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


async def test_sigterm_mid_run_rolls_back_records_interrupted_and_releases_the_lock(
    replay: ReplayServer, database_url: str, engine: AsyncEngine
) -> None:
    replay.state.add_fault({"kind": "latency", "seconds": 60, "entity": "launches", "after": 1})
    env = cli_env(DATABASE_URL=database_url, SPACEX_API_URL=replay.url, PAGE_SIZE="25")
    with cli_service("scheduler", env) as service:
        # Page 2 of launches is in flight: page 1 sits in the open loading transaction.
        assert await asyncio.to_thread(replay.state.wait_for_requests, "launches", 2, 60)
        service.process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(service.process.wait, 10) == 0
        log = service.whole_log()
    # One line says so; no traceback, nothing at ERROR.
    assert log.count("ETL run cancelled by shutdown; recorded as interrupted") == 1
    assert "Traceback" not in log
    assert " ERROR " not in log

    async with engine.connect() as conn:
        [run] = (await conn.execute(text("SELECT status, error FROM etl_runs"))).all()
        stored = await conn.scalar(text("SELECT count(*) FROM launches"))
        locks = await conn.scalar(ADVISORY_LOCKS_HERE)
    assert run.status == "interrupted"
    assert run.error == "interrupted: the scheduler is shutting down"
    assert stored == 0
    assert locks == 0


@contextmanager
def _replay_process(*options: str) -> Iterator[str]:
    """`spacex-etl replay` as a user starts it; yields its URL once it accepts connections."""
    port = free_port()
    process = subprocess.Popen(
        [*CLI, "replay", "--port", str(port), *options],
        env=cli_env(),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    service = Service(process, port)
    try:
        service.wait_for_log("replay server on http://", timeout=30)
        yield service.url + "/"
    finally:
        process.terminate()
        process.wait(timeout=20)


def _etl(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "etl"], env=env, capture_output=True, text=True, timeout=120)


def _rows(database_url: str, sql: str) -> list[tuple[Any, ...]]:
    async def query() -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(driver_dsn(database_url))
        try:
            return [tuple(row) for row in await conn.fetch(sql)]
        finally:
            await conn.close()

    return asyncio.run(query())


@pytest.mark.parametrize("revision", ["current", "2023"])
def test_replayed_live_api_then_migrate_and_etl_gives_the_live_reference_counts(
    database_url: str, revision: str
) -> None:
    # The real profile, 3 s `upcoming` wait included: what a user sees against the default URL.
    with _replay_process("--profile", "live", "--revision", revision) as url:
        env = cli_env(DATABASE_URL=database_url, SPACEX_API_URL=url)
        migrate = subprocess.run([*CLI, "migrate"], env=env, capture_output=True, text=True)
        assert migrate.returncode == 0, migrate.stderr
        first = _etl(env)
        assert first.returncode == 0, first.stderr
        assert dict(_rows(database_url, COUNTS_SQL)) == LIVE_REFERENCE_COUNTS

        # The source suddenly lists no launches: nothing is deleted and the run fails.
        httpx.put(f"{url}_replay/data/launches", json=[]).raise_for_status()
        emptied = _etl(env)
        # Then a third of them break their contract: nothing loads, the reasons are counted.
        drifted = load_recorded("launches", "live")
        for record in drifted[:70]:
            record["date_utc"] = "yesterday"
        httpx.put(f"{url}_replay/data/launches", json=drifted).raise_for_status()
        drift = _etl(env)
    assert emptied.returncode == 1
    assert "refusing to delete 205" in emptied.stdout
    live = "SELECT count(*) FROM launches WHERE deleted_at IS NULL"
    assert _rows(database_url, live) == [(205,)]
    assert drift.returncode == 1
    assert "70 of 205 launches rejected (limit 10%" in drift.stdout
    assert "rejected 70 x launch_date_utc: " in drift.stdout

    history = subprocess.run([*CLI, "runs"], env=env, capture_output=True, text=True)
    assert "refusing to delete 205" in history.stdout
    assert "rejected 70 x launch_date_utc: " in history.stdout
    if revision == "2023":
        assert f"warning 205 x {LAUNCH_YEAR_2023}" in history.stdout
