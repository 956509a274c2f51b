"""Prometheus metrics of this process: ETL runs it ran and HTTP requests it served.

Each process counts what it did itself (the Prometheus way; `rate()` copes with restarts):
the API's `GET /metrics` for the API process (and the ETL too in `spacex-etl run`), the
scheduler's METRICS_PORT for its runs. The last success time is read from the database at
each scrape, so every process reports the fleet's truth.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)

from spacex_etl.entities import Entity
from spacex_etl.runs import EntityStats

REGISTRY = CollectorRegistry(auto_describe=True)

RUNS = Counter(
    "spacex_etl_runs", "ETL runs by final status (skipped: another process held the lock).",
    ["status"], registry=REGISTRY,
)  # fmt: skip
RUN_DURATION = Histogram(
    "spacex_etl_run_duration_seconds", "Duration of completed ETL runs.",
    buckets=(0.5, 1, 2, 5, 10, 20, 30, 45, 60, 120, 300), registry=REGISTRY,
)  # fmt: skip
ROWS = Counter(
    "spacex_etl_rows", "Rows per entity type and what the load did with them.",
    ["entity", "action"], registry=REGISTRY,
)  # fmt: skip
LAST_SUCCESS = Gauge(
    "spacex_etl_last_success_timestamp_seconds",
    "Unix time the last successful run (of any process) finished; 0: never.",
    registry=REGISTRY,
)
HTTP_REQUESTS = Counter(
    "spacex_etl_http_requests", "HTTP requests by method, route template and status.",
    ["method", "route", "status"], registry=REGISTRY,
)  # fmt: skip
HTTP_DURATION = Histogram(
    "spacex_etl_http_request_duration_seconds", "HTTP request duration by method and route.",
    ["method", "route"], registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
)  # fmt: skip

_ACTIONS = ("fetched", "inserted", "updated", "unchanged", "deleted", "rejected")


def record_run(status: str, duration_s: float, stats: Mapping[Entity, EntityStats]) -> None:
    """Count one finished (or skipped) run."""
    RUNS.labels(status).inc()
    if status == "skipped":
        return
    if status == "success":
        LAST_SUCCESS.set(time.time())
    RUN_DURATION.observe(duration_s)
    for entity, entity_stats in stats.items():
        for action in _ACTIONS:
            ROWS.labels(entity, action).inc(getattr(entity_stats, action))


def record_last_success(finished_at: datetime | None) -> None:
    LAST_SUCCESS.set(finished_at.timestamp() if finished_at is not None else 0)


# RFC 9110's methods and PATCH; any other token a client sends is one label, "other": a label
# per token would let each client add series (0.9 MB of them after a fuzz run).
_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")
)


def observe_request(method: str, route: str, status: int, duration_s: float) -> None:
    """Count one request; `route` is the matched route's template, "unmatched" for every path
    no route serves (the middleware's choice), so paths add no series either."""
    method = method if method in _METHODS else "other"
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_DURATION.labels(method, route).observe(duration_s)


def serve_metrics(host: str, port: int) -> WSGIServer:
    """`GET /metrics` on a port of its own (a daemon thread), for processes without the API
    (the scheduler)."""
    server, _ = start_http_server(port, addr=host, registry=REGISTRY)
    return server


def exposition() -> bytes:
    """The registry in the Prometheus text format."""
    return generate_latest(REGISTRY)
