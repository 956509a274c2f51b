"""The database handle: built once per process from the validated URL, it owns the pooled async
engine, the DSN for connections outside the pool (LISTEN, pre-flight) and the schema's migrations.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib.resources import files
from types import TracebackType
from typing import Final, Self

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import create_async_engine

from spacex_etl.db.url import async_url, driver_dsn
from spacex_etl.observability.tracing import instrument_engine
from spacex_etl.run_lock import ADVISORY_LOCK_KEY

_log = logging.getLogger(__name__)

# Statements inside an ETL transaction follow each other within milliseconds (the COPY that
# streams the pages counts as active, not idle): a transaction idle this long has lost its client.
IDLE_IN_TRANSACTION_TIMEOUT_S: Final = 10
# How often the server checks, during a statement, that its client is still there (PostgreSQL
# >= 14): a process killed mid-merge stops the merge within this, not when the merge ends.
CLIENT_CHECK_INTERVAL_S: Final = 1
# The server drops a client that vanished without a FIN (a NAT or load balancer that forgot the
# connection, a host cut off by dropped packets) once TCP stops hearing from it: an idle session
# after 10 s + 3 unanswered probes 5 s apart = 25 s, and a session with data in flight when 25 s
# of it stay unacknowledged. Its session ends, and with it its transaction and its run lock:
# another scheduler takes over at its next tick, well within one 60 s interval. A live client's
# kernel answers probes however idle its application, so nothing that is alive is dropped.
# (PostgreSQL applies these to TCP sessions only; over a unix socket there is no path to lose.)
TCP_KEEPALIVE: Final[dict[str, str]] = {
    "tcp_keepalives_idle": "10",
    "tcp_keepalives_interval": "5",
    "tcp_keepalives_count": "3",
    "tcp_user_timeout": "25000",  # milliseconds
}
_MIGRATIONS = files("spacex_etl.db") / "migrations"
_Step = Callable[[Config, str], None]  # alembic.command.upgrade or .downgrade


class Database:
    """One PostgreSQL database. `engine` is checked before use, so a restarted server is
    survived; `statement_timeout_s` bounds every statement server-side (the ETL passes its run
    budget plus slack, since its COPY streams for as long as extraction runs)."""

    def __init__(
        self, url: str | URL, *, pool_size: int = 5, statement_timeout_s: float | None = None
    ) -> None:
        self.url = async_url(url)
        server_settings = {
            **TCP_KEEPALIVE,
            "idle_in_transaction_session_timeout": f"{IDLE_IN_TRANSACTION_TIMEOUT_S}s",
            "client_connection_check_interval": f"{CLIENT_CHECK_INTERVAL_S}s",
        }
        if statement_timeout_s is not None:
            server_settings["statement_timeout"] = f"{int(statement_timeout_s * 1000)}ms"
        self.engine = create_async_engine(
            self.url,
            pool_size=pool_size,
            max_overflow=5,
            pool_pre_ping=True,
            connect_args={"timeout": 10, "server_settings": server_settings},
        )
        instrument_engine(self.engine)  # a span per statement when tracing is on

    @property
    def dsn(self) -> str:
        """The URL as asyncpg itself takes it, for connections outside the pool."""
        return driver_dsn(self.url)

    @property
    def where(self) -> str:
        """user@host:port/database, for messages (never the password, nor the driver's name)."""
        host = self.url.host or "local socket"
        port = f":{self.url.port}" if self.url.port else ""
        return f"{self.url.username}@{host}{port}/{self.url.database}"

    async def migrate(self, revision: str = "head") -> None:
        """Upgrade the schema to `revision`, in one transaction."""
        await self._alembic(command.upgrade, revision)
        reached = head_revision() if revision == "head" else revision
        _log.info("database schema at revision %s", reached)

    async def downgrade(self, revision: str) -> None:
        await self._alembic(command.downgrade, revision)

    async def _alembic(self, step: _Step, revision: str) -> None:
        async with self.engine.begin() as conn:
            # A migration may rewrite a big table: the ETL's statement limit does not apply.
            # The run lock makes concurrent migrations (replicas starting together) queue, and
            # keeps a migration from changing tables under a running load.
            await conn.execute(text("SET LOCAL statement_timeout = 0"))
            lock = {"key": ADVISORY_LOCK_KEY}
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), lock)
            await conn.run_sync(_run_alembic, step, revision)

    async def dispose(self) -> None:
        await self.engine.dispose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.dispose()


def _run_alembic(connection: Connection, step: _Step, revision: str) -> None:
    # alembic's documented connection sharing: env.py migrates on the connection handed over in
    # `attributes`, so alembic never opens one (nor an event loop) of its own.
    config = Config(attributes={"connection": connection})
    config.set_main_option("script_location", str(_MIGRATIONS))
    step(config, revision)


def head_revision() -> str:
    """The revision this version's migrations end at."""
    head = ScriptDirectory(str(_MIGRATIONS)).get_current_head()
    if head is None:
        raise RuntimeError("the package ships no migrations")
    return head
