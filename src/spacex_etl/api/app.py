"""The HTTP API: data mart, health, runs, browse, dashboard; hosts the scheduler for `run`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy.ext.asyncio import AsyncEngine

from spacex_etl import __version__
from spacex_etl.api.errors import install_error_handlers
from spacex_etl.api.http_cache import AnswersFromMemory, ResponseCache
from spacex_etl.api.routes import browse, dashboard, data_mart, health, runs
from spacex_etl.data_mart import UrlCountCache

Background = Callable[[], AbstractAsyncContextManager[object]]


def create_app(
    engine: AsyncEngine,
    *,
    stale_after_s: float,
    url_counts: UrlCountCache | None = None,
    background: Background | None = None,
    on_shutdown: Callable[[], Awaitable[None]] | None = None,
) -> FastAPI:
    """`url_counts` serves the data mart from memory (followed while the app runs);
    `background` runs for the app's lifetime (the scheduler, in the all-in-one command)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        follower = asyncio.create_task(url_counts.run()) if url_counts is not None else None
        try:
            if background is None:
                yield
            else:
                async with background():
                    yield
        finally:
            if follower is not None:
                follower.cancel()
                await asyncio.gather(follower, return_exceptions=True)
            if on_shutdown is not None:
                await on_shutdown()

    app = FastAPI(
        title="SpaceX ETL",
        summary="SpaceX launches, missions and rockets collected into PostgreSQL every minute.",
        version=__version__,
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.url_counts = url_counts
    app.state.stale_after_s = stale_after_s
    app.state.response_cache = ResponseCache()
    app.add_middleware(AnswersFromMemory)
    install_error_handlers(app)
    for module in (data_mart, health, runs, browse, dashboard):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=dashboard.STATIC_DIR), name="static")
    return app
