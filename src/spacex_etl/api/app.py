"""The HTTP API: data mart, health, runs, browse, dashboard; hosts the scheduler for `run`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from sqlalchemy.ext.asyncio import AsyncEngine

from spacex_etl import __version__
from spacex_etl.api.auth import AUTH_RESPONSES, require_reader
from spacex_etl.api.errors import install_error_handlers
from spacex_etl.api.head import HeadAsGet
from spacex_etl.api.http_cache import AnswersFromMemory, ResponseCache
from spacex_etl.api.methods import install_method_not_allowed
from spacex_etl.api.middleware import install_middleware
from spacex_etl.api.routes import admin, browse, dashboard, data_mart, health, metrics, runs
from spacex_etl.api.security import ApiSecurity
from spacex_etl.api.trigger import RunTrigger
from spacex_etl.data_mart import UrlCountCache
from spacex_etl.observability.tracing import instrument_app

Background = Callable[[], AbstractAsyncContextManager[object]]


def create_app(
    engine: AsyncEngine,
    *,
    stale_after_s: float,
    ready_degraded_ok: bool = False,
    url_counts: UrlCountCache | None = None,
    background: Background | None = None,
    on_shutdown: Callable[[], Awaitable[None]] | None = None,
    security: ApiSecurity | None = None,
    trigger: RunTrigger | None = None,
    access_log: bool = False,
) -> FastAPI:
    """`url_counts` serves the data mart from memory (followed while the app runs);
    `background` runs for the app's lifetime (the scheduler, in the all-in-one command);
    `security` holds token keys and CORS (default: see `ApiSecurity`);
    `trigger` starts runs for `POST /etl/runs` (None: that endpoint answers 503);
    `access_log` logs one line per request;
    `ready_degraded_ok` makes /ready answer 200 while degraded (else 503)."""
    security = security or ApiSecurity()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        follower = asyncio.create_task(url_counts.run()) if url_counts is not None else None
        try:
            async with background() if background is not None else nullcontext():
                yield
        finally:
            if trigger is not None:
                await trigger.aclose()
            if follower is not None:
                follower.cancel()
                await asyncio.gather(follower, return_exceptions=True)
            if on_shutdown is not None:
                await on_shutdown()

    # Swagger UI and ReDoc served from the installed package: /docs works offline.
    app = FastAPIOffline(
        title="SpaceX ETL",
        summary="SpaceX launches, missions and rockets collected into PostgreSQL every minute.",
        version=__version__,
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.url_counts = url_counts
    app.state.stale_after_s = stale_after_s
    app.state.token_keys = security.token_keys
    app.state.trigger = trigger
    app.state.ready_degraded_ok = ready_degraded_ok
    app.state.response_cache = ResponseCache()
    app.add_middleware(HeadAsGet)
    if not security.reads_need_token:
        # Repeats answered before routing: only while reads need no token to check.
        app.add_middleware(AnswersFromMemory)
    install_error_handlers(app)
    install_method_not_allowed(app)
    install_middleware(app, security, access_log=access_log)
    instrument_app(app)  # a span per request when tracing is on
    app.include_router(health.router)  # probes stay public
    app.include_router(admin.router)
    for module in (data_mart, runs, metrics, browse, dashboard):
        if security.reads_need_token:
            reader = [Depends(require_reader)]
            app.include_router(module.router, dependencies=reader, responses=AUTH_RESPONSES)
        else:  # the data mart's hot path then runs no dependency at all
            app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=dashboard.STATIC_DIR), name="static")
    return app
