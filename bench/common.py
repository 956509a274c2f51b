"""What every bench shares: a PostgreSQL server, fresh databases, synthetic launches, output.

Figures are ratios within one run: the machines this runs on are shared and noisy, so an
absolute rows/s says little, while "load vs bare COPY on the same server, same minute" holds.
"""

from __future__ import annotations

import copy
import json
import os
import platform
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, asynccontextmanager, suppress
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from spacex_etl.db.database import Database
from spacex_etl.db.embedded import server_from_env_or_embedded
from spacex_etl.db.url import driver_dsn, with_database
from spacex_etl.extract.queries import page_query
from spacex_etl.replay import ReplayState, running_replay_server
from spacex_etl.replay.dataset import load_recorded
from spacex_etl.transform import transform_page

# Overridable so that the smoke test never overwrites the figures of a real run.
RESULTS_DIR = Path(
    os.environ.get("BENCH_RESULTS_DIR") or Path(__file__).resolve().parent / "results"
)
Row = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class BenchContext:
    """Where a bench runs: the server's superuser URL, and whether to use tiny sizes."""

    admin_url: str
    quick: bool


def bench_server() -> AbstractContextManager[str]:
    """BENCH_DATABASE_URL, or an embedded PostgreSQL in a temporary folder, for the run."""
    return server_from_env_or_embedded("BENCH_DATABASE_URL")


async def _admin(url: str, statement: str) -> None:
    conn = await asyncpg.connect(driver_dsn(url))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@asynccontextmanager
async def fresh_database(
    admin_url: str, label: str, *, pool_size: int = 5
) -> AsyncIterator[Database]:
    """A new database at the latest schema for one bench; disposed of and dropped afterwards."""
    name = f"bench_{label}_{uuid.uuid4().hex[:8]}"
    await _admin(admin_url, f'CREATE DATABASE "{name}"')
    try:
        async with Database(with_database(admin_url, name), pool_size=pool_size) as database:
            await database.migrate()
            yield database
    finally:
        await _admin(admin_url, f'DROP DATABASE "{name}" WITH (FORCE)')


async def checkpoint(conn: asyncpg.Connection) -> None:
    """Start each timed phase with no dirty buffers left over from the previous one."""
    with suppress(asyncpg.InsufficientPrivilegeError):
        await conn.execute("CHECKPOINT")


async def server_version(url: str) -> str:
    conn = await asyncpg.connect(driver_dsn(url))
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


# --- synthetic launches -------------------------------------------------------------------


@lru_cache(maxsize=1)
def graphql_launches() -> tuple[dict[str, Any], ...]:
    """The recorded launches as the GraphQL API answers them (fetched from a replay server)."""

    # The service's own query, in one page: all 107 recorded launches.
    body = {"query": page_query("launches"), "variables": {"limit": 100_000, "offset": 0}}
    with running_replay_server(ReplayState()) as server:
        response = httpx.post(server.url, json=body, timeout=60.0)
    response.raise_for_status()
    records: list[dict[str, Any]] = response.json()["data"]["page"]
    return tuple(records)


def synthetic_graphql(count: int) -> Iterator[dict[str, Any]]:
    """`count` launches cloned from the recorded ones, ids 1..count (GraphQL shape)."""
    templates = graphql_launches()
    for index in range(count):
        record = dict(templates[index % len(templates)])
        record["id"] = str(index + 1)
        yield record


def synthetic_v3(count: int) -> list[dict[str, Any]]:
    """`count` launches cloned from the recorded ones, flight numbers 1..count (v3 shape)."""
    templates = load_recorded("launches")
    records = []
    for index in range(count):
        record = copy.copy(templates[index % len(templates)])
        record["flight_number"] = index + 1
        records.append(record)
    return records


def synthetic_rows(count: int, chunk: int = 5000) -> list[Row]:
    """Table rows of `count` synthetic launches, made by the real transform."""
    rows: list[Row] = []
    batch: list[dict[str, Any]] = []
    for record in synthetic_graphql(count):
        batch.append(record)
        if len(batch) == chunk:
            rows.extend(transform_page("launches", batch).rows)
            batch.clear()
    if batch:
        rows.extend(transform_page("launches", batch).rows)
    return rows


async def aiter_rows(rows: Iterable[Row]) -> AsyncIterator[Row]:
    for row in rows:
        yield row


# --- processes ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_http(url: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(url, timeout=2.0).status_code < 500:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer within {timeout_s:.0f}s")
        time.sleep(0.2)


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env


def start_replay_worker(launches: int, port: int) -> subprocess.Popen[bytes]:
    """A replay server process serving `launches` synthetic launches (0: the recorded data)."""
    command = [sys.executable, "-m", "bench.replay_worker", "--launches", str(launches)]
    return subprocess.Popen([*command, "--port", str(port)], env=child_env())


# A child forked from a bench process (gigabytes of synthetic rows by then) would report our
# pages as its peak: Linux carries the pre-exec high-water mark over into `ru_maxrss`. A small
# launcher in between starts the ETL from a clean process and reports the ETL's own peak.
_LAUNCHER = """
import resource, subprocess, sys
code = subprocess.call(sys.argv[1:], stdout=sys.stderr)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)
"""


@dataclass(frozen=True, slots=True)
class EtlProcess:
    """One `spacex-etl etl` process: its peak RSS (bytes), wall time, exit code and output."""

    peak_rss: int
    seconds: float
    exit_code: int
    output: str


def etl_process(env: dict[str, str], timeout_s: float | None = None) -> EtlProcess:
    """Run `spacex-etl etl` with `env` through the launcher."""
    started = time.perf_counter()
    launched = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, sys.executable, "-m", "spacex_etl", "etl"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=timeout_s,
    )
    peak_kib, code = (int(field) for field in launched.stdout.split())
    return EtlProcess(peak_kib * 1024, time.perf_counter() - started, code, launched.stderr)


# --- output -------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }


def write_result(name: str, result: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return path


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    print(f"\n== {title}")
    print("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
    for row in cells:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")
