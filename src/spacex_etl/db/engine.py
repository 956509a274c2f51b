"""The async engine: one pool per process, checked before use so a restarted server is survived."""

from __future__ import annotations

from typing import Final

from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from spacex_etl.db.url import async_url
from spacex_etl.observability.tracing import instrument_engine

# Statements inside an ETL transaction follow each other within milliseconds (the COPY that
# streams the pages counts as active, not idle): a transaction idle this long has lost its client.
IDLE_IN_TRANSACTION_TIMEOUT_S: Final = 10
# How often the server checks, during a statement, that its client is still there (PostgreSQL
# >= 14): a process killed mid-merge stops the merge within this, not when the merge ends.
CLIENT_CHECK_INTERVAL_S: Final = 1


def create_engine(
    url: str | URL, *, pool_size: int = 5, statement_timeout_s: float | None = None
) -> AsyncEngine:
    """The engine for `url`. `statement_timeout_s` bounds every statement server-side: the ETL
    passes its run budget plus slack, since its COPY streams for as long as extraction runs."""
    server_settings = {
        "idle_in_transaction_session_timeout": f"{IDLE_IN_TRANSACTION_TIMEOUT_S}s",
        "client_connection_check_interval": f"{CLIENT_CHECK_INTERVAL_S}s",
    }
    if statement_timeout_s is not None:
        server_settings["statement_timeout"] = f"{int(statement_timeout_s * 1000)}ms"
    engine = create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=5,
        pool_pre_ping=True,
        connect_args={"timeout": 10, "server_settings": server_settings},
    )
    instrument_engine(engine)  # a span per statement when tracing is on
    return engine
