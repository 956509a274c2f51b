"""`GET /`: what was collected, how fresh it is and how the ETL is doing, as one page.

Server-rendered (Jinja2) with inline SVG charts and a stylesheet shipped in the package: it
works offline. It reloads itself every `REFRESH_S` seconds. The aggregates that scan tables
(URLs per field, launches per year) are computed once per data version, like browse answers.
With the database unreachable it is still a page (503): it says so and retries every
`DOWN_REFRESH_S` seconds, where a JSON error would leave a browser on a dead end.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.resources import files

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.ext.asyncio import AsyncConnection

from spacex_etl import runs
from spacex_etl.api.charts import age_text, bars, timeline
from spacex_etl.api.deps import get_engine
from spacex_etl.api.http_cache import data_version
from spacex_etl.browse.stats import YearStats, launches_by_year, recent_rejects, url_counts_by_field
from spacex_etl.data_mart import read_url_counts
from spacex_etl.errors import DATABASE_ERRORS

STATIC_DIR = str(files("spacex_etl.api") / "static")
FAVICON = f"{STATIC_DIR}/favicon.ico"
REFRESH_S = 30
DOWN_REFRESH_S = 5
RUNS_SHOWN = 20
REJECTS_SHOWN = 10

_templates = Jinja2Templates(directory=str(files("spacex_etl.api") / "templates"))
_log = logging.getLogger(__name__)
router = APIRouter(
    tags=["dashboard"],
    responses={
        503: {
            "description": "The database is unreachable: a page that says so and reloads itself "
            f"every {DOWN_REFRESH_S} s (also in Retry-After).",
            "content": {"text/html": {}},
        }
    },
)


@dataclass(frozen=True, slots=True)
class _Aggregates:
    by_field: dict[str, dict[str, int]]
    by_year: list[YearStats]


async def _aggregates(request: Request, conn: AsyncConnection) -> _Aggregates:
    version = data_version(request.app.state)
    held: tuple[int, _Aggregates] | None = getattr(request.app.state, "dashboard_aggregates", None)
    if version is not None and held is not None and held[0] == version:
        return held[1]
    aggregates = _Aggregates(await url_counts_by_field(conn), await launches_by_year(conn))
    if version is not None:
        request.app.state.dashboard_aggregates = (version, aggregates)
    return aggregates


@router.get("/", response_class=HTMLResponse)
async def dashboard(request: Request) -> HTMLResponse:
    """The dashboard (HTML): URL counts, launches per year, last runs, freshness, rejects."""
    try:
        async with get_engine(request).connect() as conn:
            counts = await read_url_counts(conn)
            aggregates = await _aggregates(request, conn)
            last_runs = await runs.list_runs(conn, limit=RUNS_SHOWN)
            last_success = await runs.last_success(conn)
            rejects = await recent_rejects(conn, limit=REJECTS_SHOWN)
    except DATABASE_ERRORS as error:
        _log.warning("database unavailable on /: %r", error)
        context = {"now": datetime.now(UTC), "refresh_s": DOWN_REFRESH_S}
        return _templates.TemplateResponse(
            request,
            "database_down.html",
            context,
            status_code=503,
            headers={"Retry-After": str(DOWN_REFRESH_S)},
        )
    now = datetime.now(UTC)
    age_s = (now - last_success).total_seconds() if last_success is not None else None
    stale_after_s: float = request.app.state.stale_after_s
    marks = timeline(last_runs)
    finished = [mark for mark in marks if mark.run.status != "running"]
    context = {
        "now": now,
        "refresh_s": REFRESH_S,
        "counts": counts,
        "count_bars": bars(counts.items()),
        "field_bars": {
            entity: bars(fields.items()) for entity, fields in aggregates.by_field.items()
        },
        "by_field": aggregates.by_field,
        "years": aggregates.by_year,
        "year_bars": bars((str(y.year or "?"), y.launches) for y in aggregates.by_year),
        "runs": marks,
        # Records the newest finished run got: "all passed validation" needs some.
        "received": finished[-1].totals["fetched"] if finished else 0,
        "last_success": last_success,
        "age_s": age_s,
        "age_text": age_text(age_s) if age_s is not None else None,
        "fresh": age_s is not None and age_s <= stale_after_s,
        "stale_text": age_text(stale_after_s),
        "rejects": rejects,
    }
    return _templates.TemplateResponse(request, "dashboard.html", context)
