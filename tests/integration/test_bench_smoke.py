"""Every bench runs end to end in quick mode (tiny sizes; figures not judged, only present)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def results(
    pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Any]]:
    out = tmp_path_factory.mktemp("bench-results")
    env = {**os.environ, "BENCH_DATABASE_URL": pg_admin_url, "BENCH_RESULTS_DIR": str(out)}
    subprocess.run(
        [sys.executable, "-m", "bench", "--quick"], cwd=ROOT, env=env, check=True, timeout=330
    )
    return {path.stem: json.loads(path.read_text()) for path in out.glob("*.json")}


@pytest.mark.timeout(340)
def test_load_reports_rates_against_copy(results: dict[str, dict[str, Any]]) -> None:
    sizes = results["load"]["sizes"]
    assert [size["rows"] for size in sizes] == [300, 1_000]  # the quick sizes
    for size in sizes:
        assert size["bare_copy_rows_per_s"] > 0
        assert size["load_rows_per_s"] > 0
        assert size["load_vs_copy"] > 0
        assert size["naive_rows_per_s_extrapolated"] > 0
    assert results["load"]["quick"] is True


def test_unchanged_snapshot_writes_nothing(results: dict[str, dict[str, Any]]) -> None:
    nochange = results["nochange"]
    assert nochange["rows_written"] == 0
    assert nochange["rows_written_in_transaction"] == 0
    assert nochange["new_row_versions"] == 0
    assert nochange["rows_locked"] == 0


def test_cycle_stays_within_ten_statements_per_entity(
    results: dict[str, dict[str, Any]],
) -> None:
    cycle = results["cycle"]
    assert len(cycle["runs"]) == 2
    assert 0 < cycle["max_statements_per_entity"] <= 10


def test_api_and_memory_and_partitions_report_figures(
    results: dict[str, dict[str, Any]],
) -> None:
    for size in results["api"]["sizes"]:
        assert size["health_rps"] > 0
        assert size["data_mart_rps"] > 0
        assert size["errors"] == 0
    assert all(s["peak_rss_mib"] > 0 for s in results["memory"]["sizes"])
    assert all(s["etl_exit_code"] == 0 for s in results["memory"]["sizes"])
    assert results["memory"]["rss_ratio_largest_vs_smallest"] > 0
    assert results["partitions"]["decision"] in ("adopt", "do not adopt")


def test_browse_reports_pages_against_health(results: dict[str, dict[str, Any]]) -> None:
    sizes = results["browse"]["sizes"]
    assert {s["stored_launches"] for s in sizes} == {100, 2000}
    for size in sizes:
        assert size["health_rps"] > 0
        assert size["first_page_rps"] > 0
        assert size["last_page_rps"] > 0
        assert size["uncached_first_page_ms"] > 0
        assert size["uncached_last_page_ms"] > 0
        assert size["errors"] == 0


def test_live_profile_costs_one_round_trip_per_entity_at_the_default_page_size(
    results: dict[str, dict[str, Any]],
) -> None:
    by_case = {(r["revision"], r["page_size"]): r for r in results["live"]["runs"]}
    assert by_case[("current", 500)]["requests_total"] == 3
    assert by_case[("2023", 500)]["requests_total"] == 3
    # The old page size costs more: 5 launches pages, or 3 with the 2023 bug's whole-list check.
    assert by_case[("current", 50)]["requests"]["launches"] == 5
    assert by_case[("2023", 50)]["requests"]["launches"] == 3


def test_guards_reports_a_normal_runs_time_and_memory(results: dict[str, dict[str, Any]]) -> None:
    [recorded] = results["guards"]["sizes"]
    assert recorded["after"]["run_s"] > 0
    assert recorded["after"]["peak_rss_mib"] > 0
