"""`GET /metrics`: the process's Prometheus metrics, for a scraper."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from spacex_etl.api.deps import get_engine
from spacex_etl.errors import DATABASE_ERRORS
from spacex_etl.observability import metrics
from spacex_etl.runs import last_success

router = APIRouter(tags=["metrics"])


@router.get("/metrics", response_class=Response)
async def prometheus_metrics(request: Request) -> Response:
    """Prometheus text format: runs by status, run duration, rows by entity and action, last
    success time, HTTP requests. Answers even while the database is down (last success kept)."""
    try:
        async with get_engine(request).connect() as conn:
            metrics.record_last_success(await last_success(conn))
    except DATABASE_ERRORS:
        pass  # the scrape still gets every in-process metric; the gauge keeps its last value
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
