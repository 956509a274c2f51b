"""What every log line, error report and span of one ETL run carries: its run id."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sentry_sdk
import structlog
from opentelemetry.trace import Span

from spacex_etl.observability.tracing import tracer


@contextmanager
def run_context(run_id: int) -> Iterator[Span]:
    """Within the block (and the tasks it starts), logs and Sentry events name `run_id`, and
    spans are children of the run's `etl.run` span (yielded, for the outcome)."""
    with (
        structlog.contextvars.bound_contextvars(run_id=run_id),
        sentry_sdk.new_scope() as scope,
        tracer.start_as_current_span("etl.run", attributes={"etl.run_id": run_id}) as span,
    ):
        scope.set_tag("run_id", str(run_id))
        yield span
