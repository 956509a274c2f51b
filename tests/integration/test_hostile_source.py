"""A hostile or broken source cannot hang, bloat or crash a run; one bad record costs one record.

A real hostile server on loopback (`tests/hostile_source.py`: the replay server's answers,
spoilt per entity type) and the real PostgreSQL. Every attack is checked for bounded time, the
run's recorded status and cause, and the data afterwards: intact, or only the bad record missing.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, cast

import httpx
import pytest
from bench.common import etl_process
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from spacex_etl.db.database import Database
from spacex_etl.db.tables import etl_runs, rejected_records
from spacex_etl.entities import Entity
from spacex_etl.extract import SpaceXClient
from spacex_etl.pipeline import RunReport, run_etl
from spacex_etl.replay import ReplayServer
from spacex_etl.safe_text import MAX_ERROR_CHARS
from spacex_etl.transform import is_absolute_url
from tests.hostile_source import (
    HostileSource,
    Responder,
    drip,
    gzip_bomb,
    gzipped,
    oversize,
    raw,
    serving_hostile,
    tampered,
)
from tests.support import (
    ADVISORY_LOCKS_HERE,
    FAST_RETRY,
    REFERENCE_COUNTS,
    data_snapshot,
    loaded_snapshot,
    url_counts,
)

BUDGET_S = 6.0
REQUEST_TIMEOUT_S = 2.0
# What a run may take beyond its budget: the load after extraction, recording the run.
SLACK_S = 3.0
MAX_RESPONSE_BYTES = 2**20


@pytest.fixture
def hostile(replay: ReplayServer) -> Iterator[tuple[str, HostileSource]]:
    with serving_hostile(replay.state) as served:
        yield served


@pytest.fixture
async def client(hostile: tuple[str, HostileSource]) -> AsyncIterator[SpaceXClient]:
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S) as http:
        yield SpaceXClient(
            http,
            hostile[0],
            page_size=25,
            retry=FAST_RETRY,
            request_timeout_s=REQUEST_TIMEOUT_S,
            max_response_bytes=MAX_RESPONSE_BYTES,
        )


async def _recorded_run(engine: AsyncEngine, run_id: int | None) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(select(etl_runs).where(etl_runs.c.id == run_id))).one()


async def _bounded_run(engine: AsyncEngine, client: SpaceXClient) -> RunReport:
    started = time.monotonic()
    report = await run_etl(engine, client, budget_s=BUDGET_S)
    assert time.monotonic() - started < BUDGET_S + SLACK_S
    return report


@pytest.mark.parametrize(
    ("attack", "cause"),
    [
        (drip(), "timed out"),
        (oversize(200 * 2**20), "HTTP_MAX_RESPONSE_BYTES"),
        (gzip_bomb(64 * 2**20), "HTTP_MAX_RESPONSE_BYTES"),
    ],
    ids=["slow-drip", "oversize-body", "gzip-bomb"],
)
async def test_a_hostile_response_fails_its_entity_within_the_budget_and_keeps_the_data(
    engine: AsyncEngine,
    client: SpaceXClient,
    hostile: tuple[str, HostileSource],
    attack: Responder,
    cause: str,
) -> None:
    before = await loaded_snapshot(engine, client)
    hostile[1].arm("launches", attack)

    report = await _bounded_run(engine, client)

    run = await _recorded_run(engine, report.run_id)
    assert run.status == "partial"
    assert cause in run.error
    assert cause in run.stats["launches"]["error"]
    assert run.stats["missions"]["error"] is None
    assert await data_snapshot(engine) == before


async def test_a_compressed_answer_is_read_whole(
    engine: AsyncEngine, client: SpaceXClient, hostile: tuple[str, HostileSource]
) -> None:
    for entity in ("launches", "missions", "rockets"):
        hostile[1].arm(entity, gzipped())

    report = await _bounded_run(engine, client)

    assert report.ok
    assert await url_counts(engine) == REFERENCE_COUNTS


def _first(_entity: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda document: document["data"]["page"][0]


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


# (entity, change to its first record, raw byte replacement, expected reason in the reject)
REJECTED: dict[str, tuple[str, dict[str, Any], bytes, str]] = {
    "nesting-300": ("launches", {"extra": _nested(300)}, b"", "nested deeper than 254"),
    "int4-overflow": ("rockets", {"stages": 2**31}, b"", "stages"),
    "int8-overflow": ("rockets", {"cost_per_launch": 2**63}, b"", "cost_per_launch"),
    "year-1-in-utc": (
        "launches",
        {"launch_date_utc": "0001-01-01T00:00:00+01:00"},
        b"",
        "out of range",
    ),
    "year-10000": ("launches", {"launch_date_utc": "10000-01-01T00:00:00Z"}, b"", "launch_date"),
    "nul-in-text": ("launches", {"details": "a\x00b"}, b"", "NUL"),
    "nul-in-a-key": ("missions", {"extra": {"k\x00": 1}}, b"", "NUL"),
    "nul-in-the-id": ("launches", {"id": "1\x00"}, b"", "NUL"),
    "lone-surrogate": ("launches", {"details": "a\ud800b"}, b"", "lone surrogate"),
    "invalid-utf8": ("rockets", {"name": "@@BAD@@"}, b'"@@BAD@@"=>"\xff\xfe"', "lone surrogate"),
    "number-beyond-double": ("launches", {"extra": "@@BIG@@"}, b'"@@BIG@@"=>1e400', "double"),
    "string-over-limit": ("missions", {"description": "x" * 70_000}, b"", "over the 65536"),
    "record-over-limit": ("launches", {"extra": ["y" * 60_000] * 20}, b"", "over the 1048576"),
}


@pytest.mark.parametrize("case", REJECTED.values(), ids=REJECTED.keys())
async def test_a_bad_record_is_rejected_with_its_reason_and_costs_only_itself(
    engine: AsyncEngine,
    client: SpaceXClient,
    hostile: tuple[str, HostileSource],
    case: tuple[str, dict[str, Any], bytes, str],
) -> None:
    entity, changes, replace, reason = case
    before = await loaded_snapshot(engine, client)
    client.max_response_bytes = 8 * 2**20  # the record-over-limit page is ~1.2 MB
    hostile[1].arm(
        entity, tampered(lambda doc: _first(entity)(doc).update(changes), replace=replace)
    )

    report = await _bounded_run(engine, client)

    stats = report.stats[cast(Entity, entity)]
    assert report.status == "success"
    # Every other record was read and found unchanged; the bad one keeps its last good version.
    assert (stats.rejected, stats.unchanged, stats.updated, stats.deleted) == (
        1,
        stats.fetched - 1,
        0,
        0,
    )
    assert await data_snapshot(engine) == before
    async with engine.connect() as conn:
        stored = (await conn.execute(select(rejected_records))).one()
    assert stored.entity == entity
    assert reason in stored.reason
    assert isinstance(stored.payload, dict)  # jsonb: the payload, or a note about it


NOT_URLS = {
    "unparsable-ipv6": "http://[::1",
    "fullwidth-slash-netloc": "http://example\uff0fcom/",
    "whitespace": "http://exa mple.com/a b",
}


@pytest.mark.parametrize("value", NOT_URLS.values(), ids=NOT_URLS.keys())
async def test_a_broken_url_is_kept_but_not_counted(
    engine: AsyncEngine,
    client: SpaceXClient,
    hostile: tuple[str, HostileSource],
    value: str,
) -> None:
    before = await loaded_snapshot(engine, client)
    original: dict[str, Any] = {}

    def break_wikipedia(document: dict[str, Any]) -> None:
        record = _first("launches")(document)
        original.update(id=record["id"], wikipedia=record["links"]["wikipedia"])
        record["links"]["wikipedia"] = value

    hostile[1].arm("launches", tampered(break_wikipedia))

    report = await _bounded_run(engine, client)

    stats = report.stats["launches"]
    assert report.status == "success"
    assert (stats.rejected, stats.updated) == (0, 1)
    counts = (await data_snapshot(engine))["counts"]
    assert counts["launches"] == before["counts"]["launches"] - is_absolute_url(
        original["wikipedia"]
    )
    async with engine.connect() as conn:
        query = text("SELECT wikipedia FROM launches WHERE id = :id")
        kept = await conn.scalar(query, {"id": original["id"]})
    assert kept == value


def _error_body(message: str) -> bytes:
    return json.dumps({"data": None, "errors": [{"message": message}]}).encode()


@pytest.mark.parametrize(
    "message",
    ["bad\x00thing\n2026-01-01 ERROR forged line", "x" * (5 * 2**20)],
    ids=["nul-and-newline", "5-MB"],
)
async def test_graphql_error_text_is_recorded_bounded_and_storable(
    engine: AsyncEngine,
    client: SpaceXClient,
    hostile: tuple[str, HostileSource],
    message: str,
) -> None:
    before = await loaded_snapshot(engine, client)
    client.max_response_bytes = 8 * 2**20
    hostile[1].arm("launches", raw(_error_body(message)))

    report = await _bounded_run(engine, client)

    run = await _recorded_run(engine, report.run_id)
    assert run.status == "partial"
    launches_error = run.stats["launches"]["error"]
    assert "GraphQL errors" in launches_error
    for stored in (run.error, launches_error):
        assert "\x00" not in stored
        assert len(stored) < MAX_ERROR_CHARS + 100
    assert await data_snapshot(engine) == before


class _Exploding(SpaceXClient):
    """A source client with a bug: reading launches raises something no handler expects."""

    async def fetch_page(
        self, entity: Entity, offset: int | None, *, deadline: float
    ) -> tuple[list[Any], list[Any]]:
        if entity == "launches":
            raise RuntimeError("bug\x00 in the client")
        return await super().fetch_page(entity, offset, deadline=deadline)


async def test_an_unexpected_error_fails_its_entity_and_the_run_is_recorded(
    engine: AsyncEngine, client: SpaceXClient, hostile: tuple[str, HostileSource]
) -> None:
    before = await loaded_snapshot(engine, client)
    async with httpx.AsyncClient() as http:
        exploding = _Exploding(http, hostile[0], page_size=25, retry=FAST_RETRY)
        report = await _bounded_run(engine, exploding)

    run = await _recorded_run(engine, report.run_id)
    assert run.status == "partial"
    assert "RuntimeError" in run.stats["launches"]["error"]
    assert run.stats["rockets"]["error"] is None
    assert await data_snapshot(engine) == before


# --- whole processes: memory, signals, the server side of a dead client ---------------------

CLI = [sys.executable, "-m", "spacex_etl"]
PROCESS_BUDGET_S = 15.0
PROCESS_SLACK_S = 10.0  # interpreter start-up and imports, on a shared 2-core machine
MAX_PEAK_RSS = 300 * 2**20
FLAT_MARGIN = 64 * 2**20


def _etl_env(database_url: str, api_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEST_DATABASE_URL")}
    return {
        **env,
        "DATABASE_URL": database_url,
        "SPACEX_API_URL": api_url,
        "PAGE_SIZE": "25",
        "ETL_RUN_BUDGET_SECONDS": str(PROCESS_BUDGET_S),
        "HTTP_TIMEOUT_SECONDS": "5",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


def _spawn(command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


async def test_peak_memory_stays_flat_whatever_the_body_size(
    engine: AsyncEngine, database_url: str, hostile: tuple[str, HostileSource]
) -> None:
    env = _etl_env(database_url, hostile[0])  # the default HTTP_MAX_RESPONSE_BYTES
    normal = await asyncio.to_thread(etl_process, env, PROCESS_BUDGET_S + 60)
    assert normal.exit_code == 0
    before = await data_snapshot(engine)

    for attack in (oversize(200 * 2**20), gzip_bomb(2**30)):
        hostile[1].arm("launches", attack)
        attacked = await asyncio.to_thread(etl_process, env, PROCESS_BUDGET_S + 60)

        assert attacked.exit_code == 1  # partial
        assert attacked.seconds < PROCESS_BUDGET_S + PROCESS_SLACK_S
        peaks = f"peak {attacked.peak_rss / 2**20:.0f} MiB, normal {normal.peak_rss / 2**20:.0f}"
        assert attacked.peak_rss < MAX_PEAK_RSS, peaks
        # Flat: the body is cut at HTTP_MAX_RESPONSE_BYTES (8 MiB), however large it inflates.
        assert attacked.peak_rss < normal.peak_rss + FLAT_MARGIN, peaks
        async with engine.connect() as conn:
            run = (await conn.execute(select(etl_runs).order_by(etl_runs.c.id.desc()))).first()
        assert run is not None
        assert run.status == "partial"
        assert "HTTP_MAX_RESPONSE_BYTES" in run.stats["launches"]["error"]
        assert await data_snapshot(engine) == before


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_signal_on_etl_records_the_run_interrupted_and_keeps_the_data(
    engine: AsyncEngine,
    database_url: str,
    replay: ReplayServer,
    source: SpaceXClient,
    signum: signal.Signals,
) -> None:
    before = await loaded_snapshot(engine, source)
    seen = replay.state.requests()["launches"]
    # Page 2 of launches hangs: page 1 sits in the open loading transaction.
    replay.state.add_fault({"kind": "latency", "seconds": 60, "entity": "launches", "after": 1})
    process = _spawn(
        [*CLI, "etl"], env=_etl_env(database_url, replay.url, ETL_RUN_BUDGET_SECONDS="120")
    )
    try:
        assert await asyncio.to_thread(replay.state.wait_for_requests, "launches", seen + 2, 60)
        process.send_signal(signum)
        started = time.monotonic()
        _, stderr = await asyncio.to_thread(process.communicate, None, 20)
        assert time.monotonic() - started < 10
    finally:
        process.kill()
        process.wait()

    assert process.returncode == 128 + signum, stderr
    assert f"interrupted by {signum.name}" in stderr
    async with engine.connect() as conn:
        run = (await conn.execute(select(etl_runs).order_by(etl_runs.c.id.desc()))).first()
        locks = await conn.scalar(ADVISORY_LOCKS_HERE)
    assert run is not None
    assert (run.status, run.error) == ("interrupted", f"interrupted by {signum.name}")
    assert locks == 0
    assert await data_snapshot(engine) == before


_ORPHAN = """
import asyncio, sys
from sqlalchemy import text
from bench.common import etl_process
from spacex_etl.db.database import Database

async def main() -> None:
    engine = Database(sys.argv[1]).engine
    async with engine.connect() as conn:
        await conn.execute(text("SELECT pg_sleep(120) /* orphan-probe */"))

asyncio.run(main())
"""


async def _active_probes(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        query = text(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%/* orphan-probe */%'"
            " AND state = 'active' AND pid <> pg_backend_pid() AND datname = current_database()"
        )
        return int(await conn.scalar(query) or 0)


async def _poll(condition: Callable[[], Awaitable[bool]], timeout_s: float) -> float:
    """Seconds until `condition` holds; fails after `timeout_s`."""
    started = time.monotonic()
    while not await condition():
        assert time.monotonic() - started < timeout_s, "condition not met in time"
        await asyncio.sleep(0.05)
    return time.monotonic() - started


async def test_a_killed_clients_statement_ends_promptly(
    engine: AsyncEngine, database_url: str
) -> None:
    process = _spawn([sys.executable, "-c", _ORPHAN, database_url])
    try:
        await _poll(lambda: _probes_at_least(engine, 1), 30)
    finally:
        process.kill()  # SIGKILL: the client cannot say goodbye
        process.communicate()  # reaps it and closes its pipe

    # client_connection_check_interval: the server notices within about a second, not 120 s.
    assert await _poll(lambda: _probes_at_least(engine, 0, exactly=True), 10) < 5


async def _probes_at_least(engine: AsyncEngine, count: int, *, exactly: bool = False) -> bool:
    probes = await _active_probes(engine)
    return probes == count if exactly else probes >= count


async def test_a_statement_cannot_outlast_the_statement_timeout(database_url: str) -> None:
    engine = Database(database_url, statement_timeout_s=0.5).engine
    started = time.monotonic()
    try:
        with pytest.raises(DBAPIError, match="statement timeout"):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT pg_sleep(30)"))
    finally:
        await engine.dispose()
    assert time.monotonic() - started < 5
