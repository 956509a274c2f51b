"""A run logs one summary line with its counts and duration; its lines carry the run id."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from spacex_etl.extract import SpaceXClient
from spacex_etl.logging import configure_logging
from spacex_etl.pipeline import run_etl
from spacex_etl.replay import ReplayState


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream)
    yield stream
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


async def test_one_summary_line_per_run_with_counts(
    engine: AsyncEngine, source: SpaceXClient, replay_state: ReplayState, json_log: io.StringIO
) -> None:
    replay_state.add_fault({"kind": "http_status", "status": 500, "entity": "rockets", "times": 9})
    report = await run_etl(engine, source, budget_s=30)
    outside = logging.getLogger("spacex_etl.pipeline")
    outside.info("after the run")

    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    summaries = [line for line in lines if line.get("run_summary")]
    assert len(summaries) == 1
    summary = summaries[0]
    assert summary["run_id"] == report.run_id
    assert summary["status"] == "partial"
    assert summary["level"] == "warning"
    assert summary["duration_s"] == report.duration_s
    assert summary["entities"]["launches"]["inserted"] == 107
    assert summary["entities"]["missions"]["fetched"] == 7
    assert summary["event"].startswith(f"run {report.run_id} partial in ")
    rocket_error = [line for line in lines if line["event"].startswith("rockets failed")]
    assert rocket_error
    assert rocket_error[0]["run_id"] == report.run_id  # lines inside the run name it
    assert "run_id" not in lines[-1]  # and lines after it do not
