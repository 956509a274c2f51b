"""Credentials that stop working after start-up (a role made NOLOGIN, a password rotated) are
named as such: the scheduler's next run fails with the server's words, not a generic outage
line, and `/ready` gives them as its reason."""

from __future__ import annotations

import asyncio
import logging
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from spacex_etl.api import create_app
from spacex_etl.db.database import API_CALL_TIMEOUT_S, Database
from spacex_etl.db.embedded import EmbeddedPostgres
from spacex_etl.db.url import driver_dsn, with_database
from spacex_etl.extract import SpaceXClient
from spacex_etl.service import EtlService
from tests.asgi import asgi_client
from tests.support import admin, migrate_to_head


@pytest.fixture
async def role(pg_admin_url: str) -> AsyncIterator[str]:
    """A login role of this test's own (superuser, so it may do all the ETL does)."""
    name = f"spacex_role_{uuid.uuid4().hex[:8]}"
    await admin(pg_admin_url, f'CREATE ROLE "{name}" LOGIN SUPERUSER')
    yield name
    await _end_sessions(pg_admin_url, name)
    await admin(pg_admin_url, f'DROP ROLE "{name}"')


async def _end_sessions(admin_url: str, role: str) -> None:
    """Terminate the role's sessions (what a rotation's restart or an idle timeout does), each
    waited for until it is gone (PostgreSQL >= 14's timeout argument)."""
    conn = await asyncpg.connect(driver_dsn(admin_url))
    try:
        ended = await conn.fetchval(
            "SELECT coalesce(bool_and(pg_terminate_backend(pid, 20000)), true)"
            " FROM pg_stat_activity WHERE usename = $1",
            role,
        )
    finally:
        await conn.close()
    assert ended, f"sessions of {role} still there after 20 s"


async def _refused_after_start_up(
    url: str,
    revoke: Callable[[], Awaitable[None]],
    restore: Callable[[], Awaitable[None]],
    source: SpaceXClient,
    caplog: pytest.LogCaptureFixture,
    refused: str,
) -> None:
    """A service on `url` runs and is ready; `revoke` stops its credentials working, and its
    sessions end: the next run and /ready name the server's `refused`; `restore` mends all."""
    etl_database = Database(url)
    api_database = Database(url, call_timeout_s=API_CALL_TIMEOUT_S)
    service = EtlService(etl_database.engine, source, run_budget_s=30)
    app = create_app(api_database.engine, stale_after_s=180)
    try:
        async with asgi_client(app) as api:
            assert (await service.run_once()).ok
            assert (await api.get("/ready")).status_code == 200

            await revoke()
            caplog.clear()
            with caplog.at_level(logging.ERROR):
                await service.tick()
                ready = await api.get("/ready")
                runs = await api.get("/etl/runs")
            run_lines = [r.getMessage() for r in caplog.records if r.name == "spacex_etl.service"]

            await restore()
            assert (await service.run_once()).ok
            recovered = await api.get("/ready")
    finally:
        await api_database.dispose()
        await etl_database.dispose()

    assert run_lines == [
        f"run not started, the database refused this service: {refused} (check DATABASE_URL)"
    ]
    for response in (ready, runs):
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert response.json() == {
            "detail": "database refused this service's credentials",
            "reason": refused,
        }
    assert recovered.status_code == 200


async def test_a_role_made_nologin_is_named_by_the_next_run_and_by_ready(
    pg_admin_url: str,
    database_url: str,
    role: str,
    source: SpaceXClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def revoke() -> None:
        await admin(pg_admin_url, f'ALTER ROLE "{role}" NOLOGIN')
        await _end_sessions(pg_admin_url, role)

    async def restore() -> None:
        await admin(pg_admin_url, f'ALTER ROLE "{role}" LOGIN')

    url = make_url(database_url).set(username=role).render_as_string(hide_password=False)
    refused = f'role "{role}" is not permitted to log in'
    await _refused_after_start_up(url, revoke, restore, source, caplog, refused)


@pytest.fixture(scope="module")
def password_server() -> Iterator[str]:
    """A server of this module's own that checks passwords (the shared ones trust local
    connections), with a migrated database; its superuser's URL, password included."""
    with tempfile.TemporaryDirectory(prefix="spacex-etl-passwords-") as folder:
        server = EmbeddedPostgres(Path(folder) / "pgdata")
        url = server.start()
        try:
            asyncio.run(admin(url, "ALTER ROLE postgres PASSWORD 'admin'"))
            (Path(folder) / "pgdata" / "pg_hba.conf").write_text("local all all scram-sha-256\n")
            server.stop()
            server.start()
            admin_url = make_url(url).set(password="admin").render_as_string(hide_password=False)
            asyncio.run(admin(admin_url, "CREATE DATABASE spacex"))
            spacex = with_database(admin_url, "spacex")
            asyncio.run(migrate_to_head(spacex))
            yield spacex
        finally:
            server.stop()


async def test_a_rotated_password_is_named_by_the_next_run_and_by_ready(
    password_server: str, source: SpaceXClient, caplog: pytest.LogCaptureFixture
) -> None:
    role = f"spacex_role_{uuid.uuid4().hex[:8]}"
    await admin(password_server, f"CREATE ROLE \"{role}\" LOGIN SUPERUSER PASSWORD 'first'")

    async def revoke() -> None:
        await admin(password_server, f"ALTER ROLE \"{role}\" PASSWORD 'second'")
        await _end_sessions(password_server, role)

    async def restore() -> None:
        await admin(password_server, f"ALTER ROLE \"{role}\" PASSWORD 'first'")

    url = make_url(password_server).set(username=role, password="first")
    refused = f'password authentication failed for user "{role}"'
    try:
        await _refused_after_start_up(
            url.render_as_string(hide_password=False), revoke, restore, source, caplog, refused
        )
    finally:
        await _end_sessions(password_server, role)
        await admin(password_server, f'DROP ROLE "{role}"')
