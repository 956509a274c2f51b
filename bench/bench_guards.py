"""guards: what the guards against a hostile source cost a normal run.

Before = the source tree of the revision before the guards (GUARDS_BASE_REVISION, taken with
`git archive` and put first on PYTHONPATH); after = this checkout. Each runs `spacex-etl etl`
into a fresh database, against a replay server process serving the recorded data (page size 50,
as in production) or 100k synthetic launches (page size 1000), in alternating rounds: the run's
own duration (as the command prints it), the process's wall time, and its peak RSS.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from bench.common import (
    BenchContext,
    child_env,
    etl_process,
    free_port,
    fresh_database,
    print_table,
    start_replay_worker,
    wait_http,
)

BASE_REVISION = os.environ.get("GUARDS_BASE_REVISION", "7594718")
# (label, launches served (0: the recorded data), page size)
FULL_SIZES = (("recorded", 0, 50), ("100k", 100_000, 1_000))
QUICK_SIZES = (("recorded", 0, 50),)
_RUN_SECONDS = re.compile(r"run \d+: \w+ in ([0-9.]+)s")


def _tree_before(into: Path) -> Path | None:
    """The `src` folder of BASE_REVISION, or None when git or the revision is not at hand."""
    root = Path(__file__).resolve().parents[1]
    try:
        archive = subprocess.run(
            ["git", "-C", str(root), "archive", BASE_REVISION, "src"],
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


async def _measure(ctx: BenchContext, api_url: str, page: int, src: Path | None) -> dict[str, Any]:
    async with fresh_database(ctx.admin_url, "guards") as database:
        env = child_env(
            DATABASE_URL=database.dsn,
            SPACEX_API_URL=api_url,
            PAGE_SIZE=str(page),
            HTTP_TIMEOUT_SECONDS="120",
            ETL_RUN_BUDGET_SECONDS="7200",
            LOG_LEVEL="WARNING",
        )
        if src is not None:
            env["PYTHONPATH"] = str(src)
        etl = etl_process(env)
    match = _RUN_SECONDS.search(etl.output)
    if etl.exit_code != 0 or match is None:
        raise RuntimeError(f"spacex-etl etl exited {etl.exit_code}:\n{etl.output}")
    return {"run_s": float(match.group(1)), "process_s": etl.seconds, "peak_rss": etl.peak_rss}


def _best(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    # Fastest round for times (noise only adds); highest peak, to be conservative on memory.
    return {
        "run_s": round(min(r["run_s"] for r in rounds), 3),
        "process_s": round(min(r["process_s"] for r in rounds), 2),
        "peak_rss_mib": round(max(r["peak_rss"] for r in rounds) / 2**20, 1),
    }


async def run(ctx: BenchContext) -> dict[str, Any]:
    sizes = QUICK_SIZES if ctx.quick else FULL_SIZES
    rounds = 1 if ctx.quick else 3
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        # Quick mode is a smoke test: the current code only.
        before = None if ctx.quick else _tree_before(Path(tmp))
        if before is None and not ctx.quick:
            print(f"guards: revision {BASE_REVISION} not available; measuring after only")
        versions = {"after": None, **({"before": before} if before else {})}
        for label, launches, page in sizes:
            port = free_port()
            replay = start_replay_worker(launches, port)
            try:
                wait_http(f"http://127.0.0.1:{port}/health", timeout_s=600)
                measured: dict[str, list[dict[str, Any]]] = {name: [] for name in versions}
                for _ in range(rounds):
                    for name, src in versions.items():
                        api_url = f"http://127.0.0.1:{port}/"
                        measured[name].append(await _measure(ctx, api_url, page, src))
            finally:
                replay.terminate()
                replay.wait(30)
            best = {name: _best(rounds_) for name, rounds_ in measured.items()}
            entry: dict[str, Any] = {"data": label, "page_size": page, **best}
            if "before" in best:
                entry["run_s_ratio"] = round(best["after"]["run_s"] / best["before"]["run_s"], 3)
                entry["peak_rss_ratio"] = round(
                    best["after"]["peak_rss_mib"] / best["before"]["peak_rss_mib"], 3
                )
            results.append(entry)
    print_table(
        f"guards: a normal `spacex-etl etl`, before ({BASE_REVISION if before else '-'}) and after,"
        f" best of {rounds}",
        ("data", "run s before", "run s after", "ratio", "RSS MiB before", "after", "ratio"),
        [
            (
                r["data"],
                r.get("before", {}).get("run_s", "-"),
                r["after"]["run_s"],
                r.get("run_s_ratio", "-"),
                r.get("before", {}).get("peak_rss_mib", "-"),
                r["after"]["peak_rss_mib"],
                r.get("peak_rss_ratio", "-"),
            )
            for r in results
        ],
    )
    return {"base_revision": BASE_REVISION, "rounds": rounds, "sizes": results}
