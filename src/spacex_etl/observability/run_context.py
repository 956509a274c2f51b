"""What every log line, error report and span of one ETL run carries: its run id."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sentry_sdk
import structlog


@contextmanager
def run_context(run_id: int) -> Iterator[None]:
    """Within the block (and the tasks it starts), logs and Sentry events name `run_id`."""
    with (
        structlog.contextvars.bound_contextvars(run_id=run_id),
        sentry_sdk.new_scope() as scope,
    ):
        scope.set_tag("run_id", str(run_id))
        yield
