"""OpenTelemetry tracing, on when OTEL_EXPORTER_OTLP_ENDPOINT is set.

One trace per ETL run (`etl.run` → `etl.entity` per entity type → its load stages, the pages
extracted and transformed inside them, each HTTP request to the source and each SQL statement)
and one per API request (FastAPI). Exported over OTLP/HTTP in batches, e.g. to Jaeger. Off,
nothing is instrumented and the spans the code opens are no-ops.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.metrics import get_meter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span
from opentelemetry.util.types import AttributeValue
from sqlalchemy.ext.asyncio import AsyncEngine

from spacex_etl import __version__
from spacex_etl.settings import Settings

# Probes and scrapes every few seconds would drown the traces that matter.
_UNTRACED_URLS = "health,ready,metrics"
_provider: TracerProvider | None = None
_NO_TRACING = trace.NoOpTracerProvider()


class _Tracer:
    """The app's tracer: the provider `init_tracing` set up, or a no-op one. Looked up at
    each span, so tracing can start (and, in tests, restart) after modules are imported."""

    def start_as_current_span(
        self, name: str, attributes: Mapping[str, AttributeValue] | None = None
    ) -> AbstractContextManager[Span]:
        provider = _provider or _NO_TRACING
        return provider.get_tracer("spacex_etl").start_as_current_span(name, attributes=attributes)


tracer = _Tracer()


def otlp_exporter(endpoint: str) -> OTLPSpanExporter:
    """OTLP over HTTP/protobuf to `endpoint` (the collector's base URL, e.g. http://jaeger:4318)."""
    return OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces", timeout=10)


def init_tracing(settings: Settings, processor: SpanProcessor | None = None) -> bool:
    """Trace this process when OTEL_EXPORTER_OTLP_ENDPOINT is set (or `processor` is given:
    tests pass one over an in-memory exporter). True if tracing is on."""
    global _provider
    exporting = processor is None
    if processor is None:
        if not settings.otel_exporter_otlp_endpoint:
            return False
        processor = BatchSpanProcessor(otlp_exporter(settings.otel_exporter_otlp_endpoint))
    resource = Resource.create(
        {"service.name": settings.otel_service_name, "service.version": __version__}
    )
    _provider = TracerProvider(resource=resource)
    _provider.add_span_processor(processor)
    if exporting:  # the process-wide default too, for any library that traces on its own
        trace.set_tracer_provider(_provider)
    HTTPXClientInstrumentor().instrument(tracer_provider=_provider)
    return True


def shutdown_tracing() -> None:
    """Flush and stop (at exit, and between tests)."""
    global _provider
    if _provider is not None:
        HTTPXClientInstrumentor().uninstrument()
        _provider.shutdown()
        _provider = None


def instrument_app(app: FastAPI) -> None:
    """A span per request (no-op while tracing is off)."""
    if _provider is not None:
        FastAPIInstrumentor.instrument_app(
            app, tracer_provider=_provider, excluded_urls=_UNTRACED_URLS
        )


def instrument_engine(engine: AsyncEngine) -> None:
    """A span per SQL statement (no-op while tracing is off)."""
    if _provider is not None:
        # Per engine: the instrumentor's global mode patches create_async_engine, which our
        # engine module imported before tracing could start.
        EngineTracer(  # type: ignore[no-untyped-call]
            trace.get_tracer("opentelemetry.instrumentation.sqlalchemy", tracer_provider=_provider),
            engine.sync_engine,
            connections_usage=get_meter("spacex_etl").create_up_down_counter("db.connections"),
        )
