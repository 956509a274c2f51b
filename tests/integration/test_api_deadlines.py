"""Every database call the API makes has a deadline, and only an outage reads as one. On a path
that stops carrying packets without closing (a NAT or load balancer that forgot the connection),
a request that needs the database answers 503 within the deadline, and answers normally once the
path carries packets again; an error that is no outage is a 500."""

from __future__ import annotations

import asyncio
import time

import httpx
from sqlalchemy import text

from spacex_etl.api import create_app
from spacex_etl.db.database import API_CALL_TIMEOUT_S, Database
from tests.asgi import asgi_client
from tests.tcp_proxy import postgres_proxy

# A request may first wait up to 1 s for a pooled connection; SQLAlchemy closes one whose call
# timed out gracefully, for up to 2 s, before the error reaches the API; 1 s for a busy machine.
_SLACK_S = 1 + 2 + 1
_UNAVAILABLE = {"detail": "database unavailable, try again shortly"}
_NEEDS_DATABASE = ("/ready", "/etl/runs", "/launches", "/data_mart/object_url_count")


async def _timed(api: httpx.AsyncClient, path: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await api.get(path)
    return response, time.monotonic() - started


async def test_a_frozen_database_path_is_a_503_within_the_deadline(database_url: str) -> None:
    with postgres_proxy(database_url) as (proxy, through):
        database = Database(
            through, statement_timeout_s=API_CALL_TIMEOUT_S, call_timeout_s=API_CALL_TIMEOUT_S
        )
        app = create_app(database.engine, stale_after_s=180)
        try:
            # Without a deadline these requests hang (78 s once): fail instead of waiting.
            async with asyncio.timeout(120), asgi_client(app) as api:
                assert (await api.get("/etl/runs")).status_code == 200  # a pooled connection
                proxy.freeze()
                one_by_one = [await _timed(api, path) for path in _NEEDS_DATABASE]
                # More at once than the pool holds (5 + 5 overflow): the rest wait for a slot.
                crowd = await asyncio.gather(*(_timed(api, "/etl/runs") for _ in range(20)))
                proxy.thaw()
                after = [await _timed(api, path) for path in _NEEDS_DATABASE]
        finally:
            await database.dispose()

    waits = [seconds for _, seconds in [*one_by_one, *crowd]]
    print(  # noqa: T201 - the figure, in the test output (pytest -s)
        f"\nfrozen database path, deadline {API_CALL_TIMEOUT_S:.0f}s: "
        f"{len(waits)} requests answered 503 in {min(waits):.2f}-{max(waits):.2f}s"
    )
    for response, seconds in [*one_by_one, *crowd]:
        assert response.status_code == 503, response.text
        assert response.json() == _UNAVAILABLE
        assert seconds < API_CALL_TIMEOUT_S + _SLACK_S
    for response, _ in after:  # thawed: the same app and pool, no restart
        assert response.status_code in (200, 503), response.text
        assert response.json() != _UNAVAILABLE


async def test_a_database_error_that_is_no_outage_is_a_500_not_unavailable(
    database_url: str,
) -> None:
    """Only connection-class errors mean an outage: a schema the code does not match (here a
    dropped table) is a bug, a 500 with its traceback logged, never 'database unavailable'."""
    async with Database(database_url) as database:
        async with database.engine.begin() as conn:
            await conn.execute(text("DROP TABLE launches CASCADE"))
        app = create_app(database.engine, stale_after_s=180)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as api:
            response = await api.get("/launches")
    assert response.status_code == 500
    assert "database unavailable" not in response.text
