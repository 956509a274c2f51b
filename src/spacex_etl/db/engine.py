"""The async engine: one pool per process, checked before use so a restarted server is survived."""

from __future__ import annotations

from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from spacex_etl.db.url import async_url
from spacex_etl.observability.tracing import instrument_engine


def create_engine(url: str | URL, *, pool_size: int = 5) -> AsyncEngine:
    engine = create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=5,
        pool_pre_ping=True,
        # No per-statement timeout: a load's COPY streams for as long as the extract pages,
        # and the run budget bounds that instead.
        connect_args={"timeout": 10},
    )
    instrument_engine(engine)  # a span per statement when tracing is on
    return engine
