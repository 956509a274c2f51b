"""The heartbeat of a long-lived connection (the run lock's session, the data mart's LISTEN):
a path that stops carrying packets without a FIN (a NAT or load balancer that forgot an idle
connection) is noticed, not trusted.

TCP keepalive cannot do this from the client: asyncpg sets none, and a middlebox that still
acknowledges probes (or the proxy the tests freeze) keeps a dead path looking alive. A query
that must come back by a deadline cannot be fooled.
"""

from __future__ import annotations

import asyncio
from contextlib import nullcontext
from typing import Final

import asyncpg

from spacex_etl.errors import DATABASE_ERRORS

# A silent path is noticed within HEARTBEAT_INTERVAL_S + HEARTBEAT_DEADLINE_S (10 s). `SELECT 1`
# answers in milliseconds on any live path, so 5 s without an answer is a silent path, not a slow
# server. The interval also keeps the session from idling long: an `idle_session_timeout` above
# 5 s on the server never ends it.
HEARTBEAT_INTERVAL_S: Final = 5.0
HEARTBEAT_DEADLINE_S: Final = 5.0


async def until_silent(conn: asyncpg.Connection, turn: asyncio.Lock | None = None) -> str:
    """Send `SELECT 1` on `conn` every HEARTBEAT_INTERVAL_S until one fails or is not answered
    within HEARTBEAT_DEADLINE_S; return why, as a phrase ("did not answer ..."). `turn` is held
    for each heartbeat when others use `conn` too (waiting for it counts against the deadline:
    a query stuck on a silent path is a silence too)."""
    while True:
        await asyncio.sleep(HEARTBEAT_INTERVAL_S)
        try:
            async with asyncio.timeout(HEARTBEAT_DEADLINE_S), turn or nullcontext():
                await conn.fetchval("SELECT 1")
        except TimeoutError:
            return (
                f"did not answer a heartbeat within {HEARTBEAT_DEADLINE_S:.0f}s: "
                "the network path went silent"
            )
        except DATABASE_ERRORS as error:
            return f"failed a heartbeat: {error!r}"
