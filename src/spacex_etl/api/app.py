"""The HTTP API: data mart, health, run history; hosts the scheduler for `spacex-etl run`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from spacex_etl.api.errors import install_error_handlers
from spacex_etl.api.routes import data_mart, health, runs

Background = Callable[[], AbstractAsyncContextManager[object]]


def create_app(
    engine: AsyncEngine,
    *,
    stale_after_s: float,
    background: Background | None = None,
    on_shutdown: Callable[[], Awaitable[None]] | None = None,
) -> FastAPI:
    """`background` runs for the app's lifetime (the scheduler, in the all-in-one command)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            if background is None:
                yield
            else:
                async with background():
                    yield
        finally:
            if on_shutdown is not None:
                await on_shutdown()

    app = FastAPI(
        title="SpaceX ETL",
        summary="SpaceX launches, missions and rockets collected into PostgreSQL every minute.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.state.stale_after_s = stale_after_s
    install_error_handlers(app)
    for module in (data_mart, health, runs):
        app.include_router(module.router)
    return app
