"""The deployed topology, tested whole (tests/e2e/topology.py builds it): nginx rendered from the
shipped template, two `spacex-etl api` behind it, two `spacex-etl scheduler`, one PostgreSQL,
the replay source; each a process, the APIs, the schedulers and the edge each a host of its
own. Each fault is played on it and measured; the figures are printed at the end of the run
(`figure: ...` properties, see tests/conftest.py).

The tests share one topology (module scope) and run on one pytest-xdist worker (xdist_group;
`--dist loadgroup`). Each leaves it whole: both APIs and both schedulers serving.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest

from spacex_etl.data_mart.store import HAS_DATA_SQL, URL_COUNTS_SQL
from spacex_etl.db.url import driver_dsn
from spacex_etl.preflight import ExitCode
from spacex_etl.replay.dataset import load_recorded
from spacex_etl.run_lock import ADVISORY_LOCK_KEY
from spacex_etl.runs import LOST_LOCK
from tests.e2e.support import CLI, cli_env
from tests.e2e.topology import APIS, INTERVAL_S, SCHEDULERS, Topology, topology, unavailable

pytestmark = [
    pytest.mark.skipif(unavailable() is not None, reason=str(unavailable())),
    pytest.mark.xdist_group("topology"),
]

T = TypeVar("T")

# What tells the API's data mart listener from its other sessions (the last statement it sent:
# its LISTEN, its re-read or its heartbeat; pooled sessions ping with ";"), and its log line on
# noticing a silent path (spacex_etl.data_mart.cache).
LISTENER_STATEMENTS = (HAS_DATA_SQL, URL_COUNTS_SQL, "SELECT 1")
LISTENER_NOTICED = "data mart listener silent"

# Every committed write to the service's tables, by which client and when (commit timestamps
# come from track_commit_timestamp); a run's start is the commit of its `etl_runs` row.
_AUDIT = """
CREATE TABLE topology_writes (
    txid bigint NOT NULL,
    client inet,
    run_id bigint
);
CREATE FUNCTION topology_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO topology_writes VALUES (txid_current(), inet_client_addr(), NULL);
    RETURN NULL;
END $$;
CREATE FUNCTION topology_run_start() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO topology_writes VALUES (txid_current(), inet_client_addr(), NEW.id);
    RETURN NULL;
END $$;
CREATE TRIGGER topology_run_start AFTER INSERT ON etl_runs
    FOR EACH ROW EXECUTE FUNCTION topology_run_start();
""" + "".join(
    f"CREATE TRIGGER topology_write AFTER INSERT OR UPDATE OR DELETE ON {table}"
    " FOR EACH STATEMENT EXECUTE FUNCTION topology_write();\n"
    for table in (
        "launches",
        "missions",
        "rockets",
        "launch_missions",
        "rejected_records",
        "object_url_count",
    )
)

# Each data commit with the run that had started last before it (by commit order).
_WRITES_AND_CURRENT_RUN = """
WITH stamped AS (
    SELECT DISTINCT txid, client, run_id, pg_xact_commit_timestamp(txid::text::xid) AS at
    FROM topology_writes
), starts AS (
    SELECT run_id, client, at FROM stamped WHERE run_id IS NOT NULL
)
SELECT w.client AS writer, w.at, s.run_id AS current_run, s.client AS current_client
FROM stamped w
LEFT JOIN LATERAL (
    SELECT run_id, client FROM starts WHERE starts.at <= w.at ORDER BY at DESC LIMIT 1
) s ON true
WHERE w.run_id IS NULL
ORDER BY w.at
"""

_LOCK_HOLDER = f"""
SELECT l.pid, host(a.client_addr) AS client
FROM pg_locks l JOIN pg_stat_activity a USING (pid)
WHERE l.locktype = 'advisory' AND l.granted
  AND l.classid = {ADVISORY_LOCK_KEY >> 32} AND l.objid = {ADVISORY_LOCK_KEY & 0xFFFF_FFFF}
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    with topology(tmp_path_factory.mktemp("topology"), _AUDIT) as running:
        yield running


@asynccontextmanager
async def _db(stack: Topology) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(driver_dsn(stack.database_url), timeout=10)
    try:
        yield conn
    finally:
        await conn.close()


async def _until(
    condition: Callable[[], Awaitable[T | None]], timeout_s: float, what: str, step_s: float = 0.1
) -> T:
    """Poll `condition` until it gives a value (not None/False); fail naming `what`."""
    deadline = time.monotonic() + timeout_s
    while True:
        if value := await condition():
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:.0f}s: {what}")
        await asyncio.sleep(step_s)


async def _lock_holder(stack: Topology) -> tuple[int, str] | None:
    """(backend pid, scheduler host) of the run lock's session, if any holds it."""
    async with _db(stack) as conn:
        row = await conn.fetchrow(_LOCK_HOLDER)
    if row is None:
        return None
    return int(row["pid"]), str(stack.host_of(row["client"]))


async def _successful_run_after(stack: Topology, since: datetime) -> asyncpg.Record | None:
    async with _db(stack) as conn:
        return await conn.fetchrow(
            "SELECT r.id, r.finished_at, host(w.client) AS client FROM etl_runs r"
            " JOIN topology_writes w ON w.run_id = r.id"
            " WHERE r.status = 'success' AND r.started_at > $1 ORDER BY r.id LIMIT 1",
            since,
        )


async def _overlapping_writes(stack: Topology) -> list[dict[str, Any]]:
    """Data commits made by another client than the run that had started last: two runs
    writing at once."""
    async with _db(stack) as conn:
        rows = await conn.fetch(_WRITES_AND_CURRENT_RUN)
    return [dict(row) for row in rows if row["writer"] != row["current_client"]]


async def _replay(stack: Topology, method: str, path: str, body: Any = None) -> Any:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.request(method, f"{stack.replay_url}/_replay/{path}", json=body)
        response.raise_for_status()
        return response.json()


async def _all_serving(stack: Topology) -> bool:
    """Both APIs answer the data mart and /ready 200, directly and through the edge."""
    urls = [stack.services[name].url for name in APIS] + [stack.edge_url]
    async with httpx.AsyncClient(timeout=5) as http:
        for url in urls:
            for path in ("/data_mart/object_url_count", "/ready"):
                try:
                    if (await http.get(url + path)).status_code != 200:
                        return False
                except httpx.HTTPError:
                    return False
    return True


def _figure(record_property: Callable[[str, object], None], name: str, value: str) -> None:
    record_property(f"figure: {name}", value)


async def test_an_api_killed_under_a_stream_of_gets_fails_none(
    stack: Topology, record_property: Callable[[str, object], None]
) -> None:
    await _until(lambda: _all_serving(stack), 60, "both APIs serving")
    url = f"{stack.edge_url}/data_mart/object_url_count"
    outcomes: list[bool] = []
    failures: list[str] = []
    stop = asyncio.Event()

    async def client() -> None:
        async with httpx.AsyncClient(timeout=10) as http:
            while not stop.is_set():
                try:
                    response = await http.get(url)
                except httpx.HTTPError as error:
                    failures.append(repr(error))
                    outcomes.append(False)
                    continue
                outcomes.append(response.status_code == 200)
                if response.status_code != 200:
                    failures.append(f"{response.status_code} {response.text[:200]}")

    victim = stack.services["api1"]
    clients = [asyncio.create_task(client()) for _ in range(4)]
    try:
        await _until(lambda: _done(len(outcomes) >= 200), 60, "200 GETs through the edge")
        served_by_victim = _access_lines(victim.lines())
        victim.process.send_signal(signal.SIGKILL)
        killed_at = len(outcomes)
        await _until(lambda: _done(len(outcomes) >= killed_at + 400), 60, "400 GETs after it")
    finally:
        stop.set()
        await asyncio.gather(*clients)
    try:
        assert victim.process.wait(timeout=10) == -signal.SIGKILL
    finally:
        stack.start("api1")  # the next tests have both again
    failed = outcomes.count(False)
    _figure(
        record_property,
        "a. failed GETs through the edge, one of two APIs killed (kill -9) mid-stream",
        f"{failed} / {len(outcomes)}",
    )
    assert served_by_victim > 0, "the edge sent nothing to the killed API before the kill"
    assert failed == 0, f"{failed} of {len(outcomes)} GETs failed: {failures[:5]}"
    await _until(lambda: _all_serving(stack), 60, "both APIs serving again")


async def _done(value: bool) -> bool:
    return value


def _access_lines(lines: list[str]) -> int:
    return sum("/data_mart/object_url_count" in line for line in lines)


async def _lose_the_lock_mid_run(
    stack: Topology, lose: Callable[[int, str], Awaitable[None]]
) -> tuple[str, str, datetime]:
    """Make the next run slow (its launches page waits), wait until it is mid-run, then `lose`
    (backend pid, host) its lock. Returns the host that lost it, the seconds until another
    session held the lock (and until the lock was free), and when the loss happened."""
    before = (await _replay(stack, "GET", "requests"))["launches"]
    await _replay(
        stack,
        "POST",
        "faults",
        {"kind": "latency", "seconds": 30, "entity": "launches", "times": 1},
    )

    async def launches_in_flight() -> bool:
        return bool((await _replay(stack, "GET", "requests"))["launches"] > before)

    await _until(launches_in_flight, INTERVAL_S + 10, "a run asking for launches")
    holder = await _until(lambda: _lock_holder(stack), 5, "the slow run's lock")
    pid, host = holder
    lost_at = datetime.now(UTC)
    started = time.monotonic()
    await lose(pid, host)

    freed: list[float] = []  # when no session held it any more

    async def another_holder() -> tuple[int, str] | None:
        current = await _lock_holder(stack)
        if current is None and not freed:
            freed.append(time.monotonic() - started)
        return current if current is not None and current[0] != pid else None

    await _until(another_holder, 2 * INTERVAL_S, "another session holding the run lock")
    taken_s = time.monotonic() - started
    return host, f"{taken_s:.1f} (lock freed after {(freed or [taken_s])[0]:.1f})", lost_at


async def _ended_run(stack: Topology, host: str, before: datetime) -> asyncpg.Record | None:
    """The last run `host` started before `before`, once it has ended."""
    async with _db(stack) as conn:
        run = await conn.fetchrow(
            "SELECT r.id, r.status, r.error FROM etl_runs r"
            " JOIN topology_writes w ON w.run_id = r.id"
            " WHERE w.client = $1::inet AND r.started_at < $2 ORDER BY r.id DESC LIMIT 1",
            stack.net.hosts[host].address,
            before,
        )
    return run if run is not None and run["status"] != "running" else None


async def _writes_after(stack: Topology, run_id: int, moment: datetime) -> list[datetime]:
    """Data commits of run `run_id` (by its host, while it was the run started last) after
    `moment`."""
    async with _db(stack) as conn:
        rows = await conn.fetch(_WRITES_AND_CURRENT_RUN)
    return [
        row["at"]
        for row in rows
        if row["current_run"] == run_id
        and row["writer"] == row["current_client"]
        and row["at"] > moment
    ]


async def _check_lost_lock(stack: Topology, host: str, lost_at: datetime) -> asyncpg.Record:
    """What every loss of the run lock must give: a run by another session succeeds within two
    intervals of the loss; the lost run is recorded so and wrote nothing after the loss; no
    commit ever came from another client than the run started last."""
    succeeded = await _until(
        lambda: _successful_run_after(stack, lost_at), 2 * INTERVAL_S, "a successful run"
    )
    lost = await _until(lambda: _ended_run(stack, host, lost_at), 30, f"{host}'s run closed")
    # Closed may mean closed by the next run: the lost one is over when its process says so.
    summary = f'"run_id":{lost["id"]},'
    scheduler = stack.services[host]

    async def summarised() -> bool:
        return any(summary in line and '"run_summary":true' in line for line in scheduler.lines())

    # A process cut off waits on its old connections until their client-side bound ends the wait
    # (the ETL's statement timeout, 0.8 interval + 30 s, plus 5 s), then records on a new one.
    bound_s = 0.8 * INTERVAL_S + 30 + 5
    await _until(summarised, bound_s + 30, f"{host}'s summary of run {lost['id']}")
    lost = await _until(lambda: _ended_run(stack, host, lost_at), 1, f"{host}'s run")
    assert await _writes_after(stack, lost["id"], lost_at) == [], "the lost run wrote after it"
    assert await _overlapping_writes(stack) == []
    assert lost["status"] == "interrupted", lost
    assert lost["error"].startswith(LOST_LOCK), lost
    return succeeded


@pytest.mark.timeout(4 * INTERVAL_S + 120)  # a tick, two intervals, then the cut-off run's record
async def test_the_lock_holder_cut_off_mid_run_is_replaced_and_writes_nothing_more(
    stack: Topology, record_property: Callable[[str, object], None]
) -> None:
    cut: list[str] = []

    async def cut_off(_pid: int, host: str) -> None:
        stack.net.hosts[host].cut()  # packets dropped, not refused: nobody hears anything
        cut.append(host)

    try:
        host, takeover_s, lost_at = await _lose_the_lock_mid_run(stack, cut_off)
        succeeded = await _check_lost_lock(stack, host, lost_at)
    finally:
        for name in cut:
            stack.net.hosts[name].heal()
    (other,) = set(SCHEDULERS) - {host}
    _figure(
        record_property,
        "b. seconds without a run-lock holder, its host cut off mid-run "
        f"(interval {INTERVAL_S:.0f} s)",
        takeover_s,
    )
    assert succeeded["client"] == stack.net.hosts[other].address, "the other scheduler ran"


@pytest.mark.timeout(4 * INTERVAL_S + 60)  # a tick, then two intervals, then its end
async def test_the_lock_holder_whose_session_is_terminated_stops_and_is_replaced(
    stack: Topology, record_property: Callable[[str, object], None]
) -> None:
    async def terminate(pid: int, _host: str) -> None:
        async with _db(stack) as conn:
            assert await conn.fetchval("SELECT pg_terminate_backend($1)", pid)

    host, takeover_s, lost_at = await _lose_the_lock_mid_run(stack, terminate)
    await _check_lost_lock(stack, host, lost_at)
    _figure(
        record_property,
        "b. seconds without a run-lock holder, its session terminated mid-run "
        f"(interval {INTERVAL_S:.0f} s)",
        takeover_s,
    )


async def _counts(url: str) -> dict[str, int] | None:
    async with httpx.AsyncClient(timeout=5) as http:
        try:
            response = await http.get(f"{url}/data_mart/object_url_count")
        except httpx.HTTPError:
            return None
    return response.json() if response.status_code == 200 else None


async def _listener_port(stack: Topology, api: str) -> int | None:
    """The client port of `api`'s data mart listener (its session is the one whose last
    statement is LISTEN, the listener's re-read or its heartbeat)."""
    async with _db(stack) as conn:
        ports = await conn.fetch(
            "SELECT client_port FROM pg_stat_activity WHERE client_addr = $1::inet"
            " AND (query LIKE 'LISTEN %' OR query = ANY($2::text[]))",
            stack.net.hosts[api].address,
            list(LISTENER_STATEMENTS),
        )
    assert len(ports) <= 1, f"more than one session of {api} looks like its listener: {ports}"
    return int(ports[0]["client_port"]) if ports else None


async def _served_at(url: str, expected: dict[str, int]) -> float | None:
    return time.monotonic() if await _counts(url) == expected else None


async def _committed_at(stack: Topology, expected: dict[str, int]) -> float | None:
    async with _db(stack) as conn:
        rows = await conn.fetch("SELECT entity, url_count FROM object_url_count")
    return time.monotonic() if {r["entity"]: r["url_count"] for r in rows} == expected else None


async def _etl_once(stack: Topology) -> None:
    """`spacex-etl etl` from outside the topology (an operator's one-off run), until one ran."""
    env = cli_env(DATABASE_URL=stack.database_url, SPACEX_API_URL=stack.replay_url + "/")
    for _ in range(5):
        process = await asyncio.create_subprocess_exec(
            *CLI,
            "etl",
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await process.communicate()
        if process.returncode != ExitCode.SKIPPED:
            assert process.returncode == 0, err.decode()
            return
    raise AssertionError("`spacex-etl etl` skipped 5 times: the lock was always taken")


async def test_an_api_whose_listener_path_goes_silent_notices_and_serves_what_is_committed(
    stack: Topology, record_property: Callable[[str, object], None]
) -> None:
    await _until(lambda: _all_serving(stack), 60, "both APIs serving")
    host, api, control = stack.net.hosts["api1"], stack.services["api1"], stack.services["api2"]
    before = await _until(lambda: _counts(control.url), 10, "the data mart")
    assert await _counts(api.url) == before
    port = await _until(lambda: _listener_port(stack, "api1"), 10, "api1's listener session")
    rocket = load_recorded("rockets", "live")[0]["id"]
    expected = {**before, "rockets": before["rockets"] - 1}
    host.silence(port)
    try:
        # A change at the source (one rocket loses its URL), committed by a run at once.
        fault = {"kind": "mutate_record", "id": rocket, "set": {"wikipedia": None}}
        await _replay(stack, "POST", "faults", fault)
        etl = asyncio.create_task(_etl_once(stack))
        committed = await _until(lambda: _committed_at(stack, expected), 60, "the change")
        await etl
        await _until(lambda: _served_at(control.url, expected), 5, "api2 serving it")
        served = await _until(lambda: _served_at(api.url, expected), 60, "api1 serving it")
    finally:
        host.heal()
        await _replay(stack, "DELETE", "faults")
    stale_s = served - committed
    _figure(
        record_property,
        "c. seconds an API served stale data after its LISTEN path went silent",
        f"{stale_s:.1f}",
    )
    assert stale_s <= 30
    assert any(LISTENER_NOTICED in line for line in api.lines()), "api1 logged nothing"


async def test_every_process_recovers_from_a_postgresql_restart_without_its_own(
    stack: Topology, record_property: Callable[[str, object], None]
) -> None:
    await _until(lambda: _all_serving(stack), 60, "both APIs serving")
    processes = {name: running.process for name, running in stack.services.items()}
    stack.postgres.stop()
    stack.postgres.start()
    restarted_at, started = datetime.now(UTC), time.monotonic()
    await _until(lambda: _successful_run_after(stack, restarted_at), 2 * INTERVAL_S + 10, "a run")
    await _until(lambda: _all_serving(stack), 60, "both APIs serving again")
    _figure(
        record_property,
        f"d. seconds until every process served again after a PostgreSQL restart "
        f"(interval {INTERVAL_S:.0f} s)",
        f"{time.monotonic() - started:.1f}",
    )
    for name, process in processes.items():
        assert stack.services[name].process is process, f"{name} was replaced"
        assert process.poll() is None, f"{name} exited"
