"""cycle: one full ETL run over HTTP against the replay server, with every SQL statement counted.

Counted per entity type: what SQLAlchemy sends (`before_cursor_execute`), the BEGIN and COMMIT
of its transaction, the pool's pre-ping on checkout, and the COPY that `copy_to_stage` sends
straight through asyncpg (which SQLAlchemy cannot see, so the bench wraps asyncpg's method).
"""

from __future__ import annotations

import inspect
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
import httpx
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.common import BenchContext, fresh_database, print_table
from spacex_etl.entities import ENTITIES
from spacex_etl.extract import SpaceXClient
from spacex_etl.pipeline import run_etl
from spacex_etl.replay import ReplayState, running_replay_server
from spacex_etl.settings import Settings

PAGE_SIZE: int = Settings.model_fields["page_size"].default  # the service's default
TARGET_PER_ENTITY = 10
ORIGINAL_STATEMENTS_PER_RUN = 902  # the original service, 118 records (issue 4)
_STAGE = re.compile(r"_stage_(\w+)")
_TABLE = re.compile(r"\b(launches|missions|rockets)\b")


class StatementCounter:
    """Groups the statements of each transaction, then names the transaction by its entity."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine.sync_engine
        self._transactions: list[list[str]] = []
        self._open: dict[int, list[str]] = {}
        self.copies: Counter[str] = Counter()

    def _current(self, conn: Connection) -> list[str]:
        statements = self._open.get(id(conn))
        if statements is None:
            statements = self._open[id(conn)] = ["BEGIN"]
            self._transactions.append(statements)
        return statements

    def _on_begin(self, conn: Connection) -> None:
        # The pool pings on checkout (pre_ping), once per transaction here.
        self._open[id(conn)] = statements = ["<pre-ping>", "BEGIN"]
        self._transactions.append(statements)

    def _on_execute(self, conn: Connection, _c: Any, statement: str, *_: Any) -> None:
        self._current(conn).append(statement)

    def _on_end(self, conn: Connection) -> None:
        self._current(conn).append("COMMIT/ROLLBACK")
        del self._open[id(conn)]

    @contextmanager
    def counting(self) -> Iterator[None]:
        original: Callable[..., Awaitable[str]] = asyncpg.Connection.copy_records_to_table

        async def counted_copy(driver: Any, table_name: str, **kwargs: Any) -> str:
            match = _STAGE.search(table_name)
            self.copies[match.group(1) if match else "run"] += 1
            return await original(driver, table_name, **kwargs)

        listeners = (
            ("begin", self._on_begin),
            ("before_cursor_execute", self._on_execute),
            ("commit", self._on_end),
            ("rollback", self._on_end),
        )
        for name, fn in listeners:
            event.listen(self._engine, name, fn)
        asyncpg.Connection.copy_records_to_table = counted_copy
        try:
            yield
        finally:
            asyncpg.Connection.copy_records_to_table = original
            for name, fn in listeners:
                event.remove(self._engine, name, fn)

    def per_entity(self) -> dict[str, int]:
        """Statements per entity type; `run` holds the run's own (lock, etl_runs)."""
        counts: Counter[str] = Counter(self.copies)
        for statements in self._transactions:
            text = " ".join(statements)
            match = _STAGE.search(text)
            counts[match.group(1) if match else "run"] += len(statements)
        return {name: counts.get(name, 0) for name in (*ENTITIES, "run")}

    def reset(self) -> None:
        self._transactions.clear()
        self._open.clear()
        self.copies.clear()


def _run_options() -> dict[str, Any]:
    # The run's time budget is being added to `run_etl`; pass one when it takes one.
    accepted = inspect.signature(run_etl).parameters
    return {"budget_s": 300.0} if "budget_s" in accepted else {}


async def run(ctx: BenchContext) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    async with fresh_database(ctx.admin_url, "cycle") as database:
        engine = database.engine
        counter = StatementCounter(engine)
        with running_replay_server(ReplayState()) as server:
            async with httpx.AsyncClient(timeout=30.0) as http:
                source = SpaceXClient(http, server.url, page_size=PAGE_SIZE)
                for label in ("first run (empty database)", "second run (unchanged)"):
                    counter.reset()
                    with counter.counting():
                        started = time.perf_counter()
                        report = await run_etl(engine, source, **_run_options())
                        wall_s = time.perf_counter() - started
                    assert report.ok, report
                    per_entity = counter.per_entity()
                    runs.append(
                        {
                            "run": label,
                            "wall_s": round(wall_s, 3),
                            "records": sum(s.fetched for s in report.stats.values()),
                            "statements": per_entity,
                            "statements_total": sum(per_entity.values()),
                            "max_per_entity": max(per_entity[e] for e in ENTITIES),
                            "written": {
                                name: s.inserted + s.updated + s.deleted
                                for name, s in report.stats.items()
                            },
                        }
                    )
    print_table(
        f"cycle: one ETL run over HTTP, recorded data, page size {PAGE_SIZE}"
        f" (target <= {TARGET_PER_ENTITY} statements per entity;"
        f" original service: {ORIGINAL_STATEMENTS_PER_RUN} per run)",
        ("run", "wall s", "records", *ENTITIES, "run overhead", "total"),
        [
            (
                r["run"],
                r["wall_s"],
                r["records"],
                *(r["statements"][e] for e in ENTITIES),
                r["statements"]["run"],
                r["statements_total"],
            )
            for r in runs
        ],
    )
    return {
        "page_size": PAGE_SIZE,
        "target_per_entity": TARGET_PER_ENTITY,
        "original_statements_per_run": ORIGINAL_STATEMENTS_PER_RUN,
        "runs": runs,
        "max_statements_per_entity": max(r["max_per_entity"] for r in runs),
    }
