"""Sentry reporting against a local HTTP server that receives the SDK's envelopes."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import sentry_sdk
from sqlalchemy.ext.asyncio import AsyncEngine

from spacex_etl.api import create_app
from spacex_etl.extract import SpaceXClient
from spacex_etl.observability.sentry import init_sentry
from spacex_etl.pipeline import run_etl
from spacex_etl.replay import ReplayState
from spacex_etl.settings import Settings


class _Receiver(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Envelopes)
        self.items: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.lock = threading.Lock()

    def events(self, timeout_s: float = 10, count: int = 1) -> list[dict[str, Any]]:
        """The error events received, once there are `count` of them (or the deadline)."""
        sentry_sdk.flush(timeout=timeout_s)
        deadline = time.monotonic() + timeout_s
        while True:
            with self.lock:
                found = [item for item in self.items if "exception" in item or "logentry" in item]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.02)


class _Envelopes(BaseHTTPRequestHandler):
    server: _Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        # An envelope: a header line, then (item header, item payload) line pairs.
        lines = body.split(b"\n")
        items = [json.loads(line) for line in lines[2::2] if line.strip()]
        with self.server.lock:
            self.server.paths.append(self.path)
            self.server.items.extend(items)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def sentry() -> Iterator[_Receiver]:
    receiver = _Receiver()
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    dsn = f"http://public-key@127.0.0.1:{receiver.server_address[1]}/42"
    assert init_sentry(Settings(sentry_dsn=dsn, sentry_environment="test"))
    yield receiver
    sentry_sdk.get_client().close(timeout=2)
    sentry_sdk.get_global_scope().set_client(None)
    receiver.shutdown()
    receiver.server_close()


def test_without_a_dsn_nothing_is_set_up() -> None:
    assert not init_sentry(Settings(sentry_dsn=None))
    assert not sentry_sdk.get_client().is_active()


async def test_an_api_error_is_reported_with_its_request_id(
    sentry: _Receiver, engine: AsyncEngine
) -> None:
    app = create_app(engine, stale_after_s=180)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("exploded near postgresql://u:api-pass-123@db/x")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as api:
        response = await api.get("/boom", headers={"X-Request-Id": "sentry-test-request-1"})

    assert response.status_code == 500
    (event,) = sentry.events()
    assert sentry.paths[0] == "/api/42/envelope/"
    assert event["exception"]["values"][-1]["type"] == "RuntimeError"
    assert event["tags"]["transaction_id"] == "sentry-test-request-1"
    assert event["environment"] == "test"
    assert "api-pass-123" not in json.dumps(event)


async def test_an_etl_error_is_reported_with_the_run_id(
    sentry: _Receiver, engine: AsyncEngine, source: SpaceXClient, replay_state: ReplayState
) -> None:
    replay_state.add_fault({"kind": "graphql_error", "entity": "rockets"})

    report = await run_etl(engine, source, budget_s=30)

    assert report.status == "partial"
    events = sentry.events()
    rockets = [e for e in events if "rockets failed" in e["logentry"]["formatted"]]
    assert len(rockets) == 1
    assert rockets[0]["tags"]["run_id"] == str(report.run_id)
    assert rockets[0]["level"] == "error"
