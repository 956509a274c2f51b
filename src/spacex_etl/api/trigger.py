"""Runs started over HTTP (`POST /etl/runs`): in the background, one at a time.

The run goes through the same `run_etl` as the scheduler's, so the PostgreSQL advisory lock
keeps it exclusive across every process; the trigger answers as soon as the run is recorded
(its id) or refused (another run holds the lock).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from spacex_etl.pipeline import RunReport

_log = logging.getLogger(__name__)


class EtlRunner(Protocol):
    """What the trigger needs from the ETL (an `EtlService`)."""

    async def run_once(self, *, on_start: Callable[[int], object] | None = None) -> RunReport: ...


class NoRunnerError(Exception):
    """This process has no ETL runner attached (yet)."""


class AlreadyRunningError(Exception):
    """Another run is in progress, in this process or another one."""


class RunTrigger:
    """Starts runs on request; `runner` is attached once the process has one."""

    def __init__(self, runner: EtlRunner | None = None) -> None:
        self.runner = runner
        self._task: asyncio.Task[RunReport] | None = None

    async def start(self) -> int:
        """Start a run and return its id once recorded; it goes on in the background.

        Raises `AlreadyRunningError` when another run holds the lock, `NoRunnerError` without
        a runner, and the database's own errors when the run cannot even be recorded.
        """
        if self.runner is None:
            raise NoRunnerError
        if self._task is not None and not self._task.done():
            raise AlreadyRunningError
        started: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def on_start(run_id: int) -> None:
            if not started.done():
                started.set_result(run_id)

        task = asyncio.create_task(self.runner.run_once(on_start=on_start))
        task.add_done_callback(_log_failure)
        self._task = task
        await asyncio.wait((started, task), return_when=asyncio.FIRST_COMPLETED)
        if started.done():
            return started.result()
        started.cancel()
        report = task.result()  # a run that could not be recorded raises here
        if report.run_id is None:
            raise AlreadyRunningError
        return report.run_id

    async def aclose(self) -> None:
        """Cancel a run still going (it is recorded `interrupted`)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


def _log_failure(task: asyncio.Task[RunReport]) -> None:
    if not task.cancelled() and (error := task.exception()) is not None:
        _log.error("triggered run failed: %r", error)
