"""Every way the source fails, through the replay server's fault switches over real HTTP.

Each test checks the stored data and the run record afterwards: transient faults are retried
and heal; the others fail only their entity type, which keeps its previous data.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from spacex_etl.extract import RetryPolicy, SpaceXClient
from spacex_etl.pipeline import RunReport, run_etl
from spacex_etl.replay import ReplayServer, ReplayState
from tests.support import FAST_RETRY, REFERENCE_COUNTS, data_snapshot, loaded_snapshot, url_counts

PAGES = {"launches": 5, "missions": 1, "rockets": 1}  # at the fixture's 25 records a page


def _assert_only_failed(report: RunReport, entity: str, *mentions: str) -> None:
    assert report.status == "partial"
    for name, stats in report.stats.items():
        if name == entity:
            assert stats.error is not None
            for text_ in mentions:
                assert text_ in stats.error
        else:
            assert stats.error is None, name


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "http_status", "status": 503},
        {"kind": "http_status", "status": 500},
        {"kind": "html_error", "status": 502},
        {"kind": "drop_connection"},
    ],
    ids=["503", "500", "html-502", "dropped-connection"],
)
async def test_transient_fault_is_retried_and_the_run_succeeds(
    engine: AsyncEngine, source: SpaceXClient, replay_state: ReplayState, fault: dict[str, Any]
) -> None:
    replay_state.add_fault({**fault, "entity": "launches", "after": 1, "times": 2})

    report = await run_etl(engine, source, budget_s=30)

    assert report.ok
    assert replay_state.requests()["launches"] == PAGES["launches"] + 2
    assert await url_counts(engine) == REFERENCE_COUNTS


@pytest.mark.parametrize(
    ("fault", "mentions"),
    [
        ({"kind": "http_status", "status": 500}, ("HTTP 500", "3 attempts")),
        ({"kind": "html_error", "status": 502}, ("HTTP 502", "3 attempts")),
        ({"kind": "drop_connection"}, ("connection failed", "3 attempts")),
    ],
    ids=["500", "html-502", "dropped-connection"],
)
async def test_persistent_transient_fault_fails_its_entity_and_keeps_its_data(
    engine: AsyncEngine,
    source: SpaceXClient,
    replay_state: ReplayState,
    fault: dict[str, Any],
    mentions: tuple[str, ...],
) -> None:
    before = await loaded_snapshot(engine, source)
    requests_before = replay_state.requests()["missions"]
    replay_state.set_data("missions", [])  # were it read, every mission would be tombstoned
    replay_state.add_fault({**fault, "entity": "missions"})

    report = await run_etl(engine, source, budget_s=30)

    _assert_only_failed(report, "missions", *mentions)
    assert replay_state.requests()["missions"] == requests_before + FAST_RETRY.attempts
    assert await data_snapshot(engine) == before


@pytest.mark.parametrize(
    ("fault", "error_class"),
    [
        ({"kind": "graphql_error", "message": "rate of fire exceeded"}, "GraphQL errors"),
        ({"kind": "malformed_json"}, "body is not JSON"),
        ({"kind": "truncated_json"}, "body is not JSON"),
    ],
    ids=["graphql-errors", "malformed-json", "truncated-json"],
)
async def test_non_transient_fault_is_not_retried(
    engine: AsyncEngine,
    source: SpaceXClient,
    replay_state: ReplayState,
    fault: dict[str, Any],
    error_class: str,
) -> None:
    before = await loaded_snapshot(engine, source)
    requests_before = replay_state.requests()["rockets"]
    replay_state.add_fault({**fault, "entity": "rockets"})

    report = await run_etl(engine, source, budget_s=30)

    _assert_only_failed(report, "rockets", error_class)
    assert replay_state.requests()["rockets"] == requests_before + 1
    assert await data_snapshot(engine) == before


async def test_failure_on_a_later_page_loads_nothing_of_that_entity(
    engine: AsyncEngine, source: SpaceXClient, replay_state: ReplayState
) -> None:
    replay_state.add_fault({"kind": "graphql_error", "entity": "launches", "after": 2})

    report = await run_etl(engine, source, budget_s=30)

    _assert_only_failed(report, "launches", "offset 50")
    assert await url_counts(engine) == {**REFERENCE_COUNTS, "launches": 0}


async def test_rate_limit_waits_at_least_retry_after(
    engine: AsyncEngine, replay: ReplayServer
) -> None:
    waits: list[float] = []

    async def recording_sleep(seconds: float) -> None:
        waits.append(seconds)

    replay.state.add_fault(
        {"kind": "http_status", "status": 429, "retry_after": 7, "entity": "rockets", "times": 1}
    )
    async with httpx.AsyncClient(timeout=5) as http:
        source = SpaceXClient(
            http, replay.url, page_size=25, retry=FAST_RETRY, sleep=recording_sleep
        )
        report = await run_etl(engine, source, budget_s=30)

    assert report.ok
    assert waits == [pytest.approx(7, abs=0.05)]  # not the millisecond backoff of FAST_RETRY


async def test_rate_limit_longer_than_the_budget_gives_up_at_once(
    engine: AsyncEngine, source: SpaceXClient, replay_state: ReplayState
) -> None:
    replay_state.add_fault(
        {"kind": "http_status", "status": 429, "retry_after": 3600, "entity": "rockets"}
    )

    report = await run_etl(engine, source, budget_s=30)

    _assert_only_failed(report, "rockets", "rate limited", "HTTP 429")
    assert report.duration_s < 30


@pytest.fixture
async def slow_reader(replay: ReplayServer) -> AsyncIterator[SpaceXClient]:
    """A client whose reads time out after 0.2 s, retrying with the test backoff."""
    async with httpx.AsyncClient(timeout=httpx.Timeout(5, read=0.2)) as http:
        yield SpaceXClient(http, replay.url, page_size=25, retry=FAST_RETRY)


async def test_timeout_is_retried(
    engine: AsyncEngine, slow_reader: SpaceXClient, replay_state: ReplayState
) -> None:
    replay_state.add_fault({"kind": "latency", "seconds": 2, "entity": "missions", "times": 1})

    report = await run_etl(engine, slow_reader, budget_s=30)

    assert report.ok
    assert replay_state.requests()["missions"] == 2


async def test_run_never_outlasts_its_budget(engine: AsyncEngine, replay: ReplayServer) -> None:
    replay.state.add_fault({"kind": "latency", "seconds": 30, "entity": "launches"})
    patient = RetryPolicy(attempts=50, initial_wait_s=0.01, max_wait_s=0.05, jitter_s=0.01)
    async with httpx.AsyncClient(timeout=10) as http:
        source = SpaceXClient(http, replay.url, page_size=25, retry=patient)
        started = time.monotonic()
        report = await run_etl(engine, source, budget_s=1.5)
        elapsed = time.monotonic() - started

    _assert_only_failed(report, "launches", "timed out")
    # The budget is a hard bound (plus the time to record the run), not a goal.
    assert elapsed < 1.5 + 1.0


@pytest.mark.parametrize(
    ("mutation", "outcome"),
    [
        ({"set": {"launch_success": "yes"}}, "rejected"),
        ({"set": {"launch_date_utc": 1143239400}}, "rejected"),
        ({"unset": ["id"]}, "rejected"),
        ({"unset": ["mission_name"]}, "updated"),
        ({"set": {"surprise_field": {"nested": True}}}, "updated"),
    ],
    ids=["wrong-type-bool", "wrong-type-date", "missing-id", "missing-field", "extra-field"],
)
async def test_record_level_faults(
    engine: AsyncEngine,
    source: SpaceXClient,
    replay_state: ReplayState,
    mutation: dict[str, Any],
    outcome: str,
) -> None:
    before = await loaded_snapshot(engine, source)
    replay_state.add_fault({"kind": "mutate_record", "entity": "launches", "id": "1", **mutation})

    report = await run_etl(engine, source, budget_s=30)

    stats = report.stats["launches"]
    assert report.ok
    assert (stats.rejected, stats.updated, stats.deleted) == (
        (1, 0, 0) if outcome == "rejected" else (0, 1, 0)
    )
    after = await data_snapshot(engine)
    assert after["counts"] == before["counts"]
    if outcome == "rejected":
        assert after == before  # the last good version stays
