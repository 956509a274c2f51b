"""OpenTelemetry: one ETL run gives the expected span tree (in-memory exporter); API requests
are traced; the OTLP exporter posts to the configured collector."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from sqlalchemy.ext.asyncio import AsyncEngine

from spacex_etl.api import create_app
from spacex_etl.db.database import Database
from spacex_etl.extract import SpaceXClient
from spacex_etl.observability.tracing import init_tracing, otlp_exporter, shutdown_tracing
from spacex_etl.pipeline import run_etl
from spacex_etl.replay import ReplayState
from spacex_etl.settings import Settings
from tests.asgi import asgi_client


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    assert init_tracing(Settings(), SimpleSpanProcessor(exporter))
    yield exporter
    shutdown_tracing()


@pytest.fixture
async def traced_engine(
    database_url: str,
    spans: InMemorySpanExporter,  # noqa: ARG001 - tracing must be on before the engine exists
) -> AsyncIterator[AsyncEngine]:
    engine = Database(database_url).engine  # created while tracing is on: instrumented
    yield engine
    await engine.dispose()


def _children(all_spans: tuple[ReadableSpan, ...], parent: ReadableSpan) -> list[ReadableSpan]:
    assert parent.context is not None
    return [
        s for s in all_spans if s.parent is not None and s.parent.span_id == parent.context.span_id
    ]


def test_tracing_is_off_without_an_endpoint() -> None:
    assert not init_tracing(Settings(otel_exporter_otlp_endpoint=None))


async def test_one_run_gives_the_expected_span_tree(
    traced_engine: AsyncEngine,
    source: SpaceXClient,
    replay_state: ReplayState,
    spans: InMemorySpanExporter,
) -> None:
    replay_state.add_fault({"kind": "graphql_error", "entity": "rockets"})
    # One rejected launch: its reject is kept in a transaction (and a span) of its own.
    replay_state.add_fault(
        {"kind": "mutate_record", "entity": "launches", "id": "5", "set": {"upcoming": "no"}}
    )
    report = await run_etl(traced_engine, source, budget_s=30)

    finished = spans.get_finished_spans()
    (run,) = [s for s in finished if s.name == "etl.run"]
    assert _attributes(run) == {"etl.run_id": report.run_id, "etl.status": "partial"}
    entities = {
        _attributes(s)["etl.entity"]: s for s in _children(finished, run) if s.name == "etl.entity"
    }
    assert set(entities) == {"launches", "missions", "rockets"}
    assert all(s.context and run.context and s.context.trace_id == run.context.trace_id
               for s in finished if s.name.startswith("etl."))  # fmt: skip

    launches = entities["launches"]
    assert (_attributes(launches)["etl.inserted"], _attributes(launches)["etl.rejected"]) == (
        106,
        1,
    )
    stages = [s for s in _children(finished, launches) if s.name.startswith("etl.")]
    assert [s.name for s in stages] == ["etl.load.copy", "etl.load.merge", "etl.load.rejected"]
    copy, merge, _ = stages
    inside_copy = _children(finished, copy)
    # Pages stream through the COPY: extract then transform, page after page (25 per page).
    etl_names = [s.name for s in inside_copy if s.name.startswith("etl.")]
    assert etl_names == ["etl.extract.page", "etl.transform.page"] * 5
    pages = [s for s in inside_copy if s.name == "etl.extract.page"]
    assert [_attributes(p)["etl.records"] for p in pages] == [25, 25, 25, 25, 7]
    # Each page's request to the source (httpx) and each SQL statement (SQLAlchemy) is a span.
    assert [[c.name for c in _children(finished, p)] for p in pages] == [["POST"]] * 5
    assert any("_stage_launches" in _statement(c) for c in inside_copy)
    assert any("INSERT INTO launches" in _statement(c) for c in _children(finished, merge))

    rockets = entities["rockets"]
    assert rockets.status.status_code == StatusCode.ERROR
    (rockets_copy,) = [s for s in _children(finished, rockets) if s.name == "etl.load.copy"]
    (failed_page,) = [s for s in _children(finished, rockets_copy) if s.name == "etl.extract.page"]
    assert failed_page.status.status_code == StatusCode.ERROR


def _attributes(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def _statement(span: ReadableSpan) -> str:
    return str(_attributes(span).get("db.statement", ""))


async def test_api_requests_are_traced_but_probes_are_not(
    traced_engine: AsyncEngine, spans: InMemorySpanExporter
) -> None:
    app = create_app(traced_engine, stale_after_s=180)
    async with asgi_client(app) as api:
        await api.get("/health")
        await api.get("/etl/runs")

    names = [s.name for s in spans.get_finished_spans()]
    assert "GET /etl/runs" in names
    assert not any("/health" in name for name in names)


class _Collector(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, str, int]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.rfile.read(length)
        self.received.append((self.path, self.headers["Content-Type"], length))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


def test_the_otlp_exporter_posts_to_the_collector() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    provider = TracerProvider()  # its own provider: the global one is the test's in-memory one
    provider.add_span_processor(
        SimpleSpanProcessor(otlp_exporter(f"http://127.0.0.1:{server.server_address[1]}/"))
    )
    try:
        with provider.get_tracer("test").start_as_current_span("etl.run"):
            pass
    finally:
        provider.shutdown()
        server.shutdown()
        server.server_close()

    ((path, content_type, length),) = _Collector.received
    assert path == "/v1/traces"
    assert content_type == "application/x-protobuf"
    assert length > 0
