"""Shared fixtures: a real PostgreSQL (embedded, or TEST_DATABASE_URL), a fresh database per
test cloned from a migrated template, and the replay server over real HTTP."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from spacex_etl.db.database import Database
from spacex_etl.db.embedded import server_from_env_or_embedded
from spacex_etl.db.url import with_database
from spacex_etl.extract import SpaceXClient
from spacex_etl.replay import ReplayServer, ReplayState, running_replay_server
from tests.support import FAST_RETRY, admin, migrate_to_head, pristine

_SLOW = ("tests/e2e/", "tests/integration/test_bench_smoke.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """End-to-end tests (processes, browsers) and the bench smoke run are the slow tier:
    `make test-fast` leaves them out, `make test` runs everything."""
    for item in items:
        if any(part in item.nodeid for part in _SLOW):
            item.add_marker(pytest.mark.slow)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The figures tests measured (`record_property("figure: <what>", value)`), printed at the
    end of the run; reports carry them back from pytest-xdist workers too."""
    figures = [
        f"{name.removeprefix('figure: ')}: {value}"
        for report in terminalreporter.stats.get("passed", [])
        for name, value in report.user_properties
        if name.startswith("figure: ")
    ]
    if figures:
        terminalreporter.section("figures")
        for line in figures:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """A superuser URL of the server under test: TEST_DATABASE_URL, or an embedded server."""
    with server_from_env_or_embedded("TEST_DATABASE_URL") as url:
        yield url


@pytest.fixture(scope="session")
def template_database(pg_admin_url: str) -> Iterator[str]:
    """A database migrated to head once per session; each test clones it."""
    name = f"spacex_tpl_{uuid.uuid4().hex[:8]}"
    asyncio.run(admin(pg_admin_url, f'CREATE DATABASE "{name}"'))
    asyncio.run(migrate_to_head(with_database(pg_admin_url, name)))
    yield name
    asyncio.run(admin(pg_admin_url, f'DROP DATABASE "{name}" WITH (FORCE)'))


@asynccontextmanager
async def _scratch_database(admin_url: str, template: str | None) -> AsyncIterator[str]:
    name = f"spacex_test_{uuid.uuid4().hex[:12]}"
    clause = f' TEMPLATE "{template}"' if template else ""
    await admin(admin_url, f'CREATE DATABASE "{name}"{clause}')
    yield with_database(admin_url, name)
    await admin(admin_url, f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
async def database_url(pg_admin_url: str, template_database: str) -> AsyncIterator[str]:
    """A database of its own for this test, already at the latest schema."""
    async with _scratch_database(pg_admin_url, template_database) as url:
        yield url


@pytest.fixture
async def other_engine(pg_admin_url: str, template_database: str) -> AsyncIterator[AsyncEngine]:
    """A second, independent database at the latest schema (to compare against a clean load)."""
    async with (
        _scratch_database(pg_admin_url, template_database) as url,
        Database(url) as database,
    ):
        yield database.engine


@pytest.fixture
async def empty_database_url(pg_admin_url: str) -> AsyncIterator[str]:
    async with _scratch_database(pg_admin_url, None) as url:
        yield url


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    async with Database(database_url) as database:
        yield database


@pytest.fixture
def engine(database: Database) -> AsyncEngine:
    return database.engine


@pytest.fixture(scope="session")
def replay_server() -> Iterator[ReplayServer]:
    with running_replay_server() as server:
        yield server


@pytest.fixture
def replay(replay_server: ReplayServer) -> Iterator[ReplayServer]:
    """The replay server with the recorded data and no faults, whatever the last test did."""
    with pristine(replay_server) as server:
        yield server


@pytest.fixture
def replay_state(replay: ReplayServer) -> ReplayState:
    return replay.state


@pytest.fixture
async def source(replay: ReplayServer) -> AsyncIterator[SpaceXClient]:
    """The ETL's source client, pointed at the replay server over real HTTP."""
    async with httpx.AsyncClient(timeout=5.0) as http:
        yield SpaceXClient(http, replay.url, page_size=25, retry=FAST_RETRY)
