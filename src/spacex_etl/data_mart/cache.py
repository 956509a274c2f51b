"""The data mart's three numbers in memory, refreshed when a load commits a change.

Every load that changes the data mart sends `NOTIFY object_url_count` from inside its
transaction; PostgreSQL delivers it at commit, so this copy moves from one committed snapshot
to the next and readers never see half a load. Serving it costs no database round trip. While
no listener is connected (start-up, a database outage) there is no copy, and readers go to
the database like before, which answers or fails honestly.

A listening connection that goes silent (a NAT or load balancer that dropped it without a FIN)
would deliver no NOTIFY and no error: the copy would be served, old, forever. So the connection
has a heartbeat (`db.heartbeat`): a silence is noticed within 10 s, the copy is dropped, and the
follower reconnects and re-reads; and the server drops the session it can no longer reach
(TCP keepalive, as on every connection).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import asyncpg
import orjson

from spacex_etl.data_mart.store import CHANNEL, HAS_DATA_SQL, URL_COUNTS_SQL
from spacex_etl.db.database import TCP_KEEPALIVE
from spacex_etl.db.heartbeat import until_silent
from spacex_etl.errors import DATABASE_ERRORS

_log = logging.getLogger(__name__)


class UrlCountCache:
    """The data mart's last committed counts in memory, for the API to serve without a query.

    `run()` listens on the data mart's channel for as long as it runs (the app's lifespan runs
    it), re-reading the table at each committed change and reconnecting after outages; while it
    is not listening `counts` and `body` are None and readers go to the table.
    """

    def __init__(
        self, dsn: str, *, reconnect_delay_s: float = 1.0, max_reconnect_delay_s: float = 30.0
    ) -> None:
        self._dsn = dsn
        self._reconnect_delay_s = reconnect_delay_s
        self._max_reconnect_delay_s = max_reconnect_delay_s
        self._counts: dict[str, int] | None = None
        self._body: bytes | None = None
        self._loaded = False
        self._version = 0
        self._changed = asyncio.Condition()

    @property
    def counts(self) -> dict[str, int] | None:
        """The last committed counts, or None while not listening."""
        return self._counts

    @property
    def body(self) -> bytes | None:
        """`counts` as the JSON the endpoint answers, serialized once per change."""
        return self._body

    @property
    def loaded(self) -> bool:
        """Whether any load had stored data at the last refresh (meaningful while `body` is)."""
        return self._loaded

    @property
    def version(self) -> int | None:
        """Moves with every committed change of the data (each NOTIFY); None while not
        listening. Lets the browse API keep responses until the data moves."""
        return self._version if self._counts is not None else None

    async def _publish(self, counts: dict[str, int] | None, loaded: bool = False) -> None:
        async with self._changed:
            self._version += 1
            self._counts = counts
            self._body = orjson.dumps(counts) if counts is not None else None
            self._loaded = loaded
            self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[dict[str, int] | None], bool]) -> None:
        """Until the copy satisfies `predicate` (lets callers follow it without polling)."""
        async with self._changed:
            await self._changed.wait_for(lambda: predicate(self._counts))

    async def run(self) -> None:
        """Listen and refresh until cancelled, reconnecting after outages (backing off)."""
        delay = self._reconnect_delay_s
        while True:
            listened = False
            try:
                listened = await self._listen_once()
            except asyncpg.UndefinedTableError:
                # `spacex-etl run` on a new database: the schema arrives with its first run.
                _log.info("data mart not migrated yet; reading from the database until it is")
            except DATABASE_ERRORS as error:
                _log.warning(
                    "data mart listener down (%r); reading from the database, retry in %.0fs",
                    error,
                    delay,
                )
            await self._publish(None)
            delay = (
                self._reconnect_delay_s if listened else min(2 * delay, self._max_reconnect_delay_s)
            )
            await asyncio.sleep(delay)

    async def _listen_once(self) -> bool:
        """Serve the copy until the connection is lost or silent; True if it got as far as
        serving."""
        conn = await asyncpg.connect(self._dsn, timeout=10, server_settings=TCP_KEEPALIVE)
        lost = asyncio.Event()
        refresh_lock = asyncio.Lock()

        async def refresh() -> None:
            async with refresh_lock:  # refreshes in arrival order, so the newest wins
                rows = await conn.fetch(URL_COUNTS_SQL)
                loaded = bool(await conn.fetchval(HAS_DATA_SQL))
                await self._publish({row["entity"]: int(row["url_count"]) for row in rows}, loaded)

        refreshes: set[asyncio.Task[None]] = set()

        def refreshed(task: asyncio.Task[None]) -> None:
            refreshes.discard(task)
            if not task.cancelled() and task.exception() is not None:
                lost.set()  # a copy we could not refresh must not be served

        silence: list[str] = []

        async def watch() -> None:
            silence.append(await until_silent(conn, refresh_lock))
            lost.set()

        def on_notify(*_: object) -> None:
            task = asyncio.create_task(refresh())
            refreshes.add(task)
            task.add_done_callback(refreshed)

        try:
            conn.add_termination_listener(lambda _: lost.set())
            # LISTEN before the first read: no change can slip between the two.
            await conn.add_listener(CHANNEL, on_notify)
            await refresh()
            _log.info("data mart served from memory, refreshed on each committed load")
            refreshes.add(asyncio.create_task(watch()))
            await lost.wait()
            if silence:
                _log.warning(
                    "data mart listener silent: its connection %s; reading from the database "
                    "until it has reconnected and re-read",
                    silence[0],
                )
            return True
        finally:
            for task in refreshes:
                task.cancel()
            await asyncio.gather(*refreshes, return_exceptions=True)
            if not conn.is_closed():
                conn.terminate()
