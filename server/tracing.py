"""OpenTelemetry tracing, configured by the standard `OTEL_*` variables; off (nothing installed) by default.

`OTEL_TRACES_EXPORTER` = `none` (default), `console` (one JSON span per line on stdout) or `otlp`
(OTLP over HTTP/protobuf: `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`,
`OTEL_EXPORTER_OTLP_HEADERS`, ...), comma-separated for several. `OTEL_SDK_DISABLED=true` turns it
off; `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_TRACES_SAMPLER(_ARG)` are honoured.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from opentelemetry import trace
from starlette.types import ASGIApp
from strawberry.extensions.tracing import OpenTelemetryExtension

from providers.connections import Connection

EXPORTERS = ("none", "console", "otlp")
DEFAULT_SERVICE_NAME = "assessment-gateway"


def exporters_from(environ: Mapping[str, str]) -> list[str]:
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    names = [n.strip().lower() for n in environ.get("OTEL_TRACES_EXPORTER", "none").split(",") if n.strip()]
    return [n for n in names if n != "none"]


def tracing_problems(environ: Mapping[str, str] = os.environ) -> list[str]:
    """What is wrong with the tracing variables (for `--check-config` and start-up)."""
    problems = [f"OTEL_TRACES_EXPORTER: unknown exporter {n!r} (known: {', '.join(EXPORTERS)})"
                for n in exporters_from(environ) if n not in EXPORTERS]  # fmt: skip
    protocol = environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    if "otlp" in exporters_from(environ) and protocol not in (None, "http/protobuf"):
        problems.append(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol}: only http/protobuf is supported")
    return problems


def configure_tracing(environ: Mapping[str, str] = os.environ) -> Any | None:
    """Install a tracer provider with the configured exporters; None (and nothing done) when off."""
    names = exporters_from(environ)
    if not names:
        return None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor

    name = environ.get("OTEL_SERVICE_NAME") or DEFAULT_SERVICE_NAME
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    if "console" in names:
        console = ConsoleSpanExporter(out=sys.stdout, formatter=lambda span: span.to_json(indent=None) + "\n")
        provider.add_span_processor(SimpleSpanProcessor(console))
    if "otlp" in names:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


def traced_asgi_middleware() -> Callable[[ASGIApp], ASGIApp]:
    """The HTTP server span around every request; an incoming W3C `traceparent` is its parent."""
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    def wrap(app: ASGIApp) -> ASGIApp:
        return OpenTelemetryMiddleware(app, excluded_urls="/health,/ready,/metrics", exclude_spans=["receive", "send"],
                                       server_request_hook=_without_query)  # fmt: skip

    return wrap


def _without_query(span: Any, scope: dict[str, Any]) -> None:
    """No query string on the server span: a GET /graphql carries its variables there."""
    if not scope.get("query_string") or not span.is_recording():
        return
    for key in ("http.url", "http.target", "url.full"):
        value = span.attributes.get(key)
        if isinstance(value, str) and "?" in value:
            span.set_attribute(key, value.split("?", 1)[0])
    if "url.query" in span.attributes:
        span.set_attribute("url.query", "[redacted]")


def traced_transport(inner: httpx.AsyncBaseTransport, connection: Connection) -> httpx.AsyncBaseTransport:
    """A client span per provider call; `traceparent` is sent to the provider."""
    from opentelemetry.instrumentation.httpx import AsyncOpenTelemetryTransport

    return AsyncOpenTelemetryTransport(inner)


def graphql_extension() -> Any:
    """Strawberry's extension: a span per operation and per resolver; no argument values (no PII)."""

    class GatewayOpenTelemetry(OpenTelemetryExtension):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(arg_filter=lambda args, info: {}, **kwargs)

    return GatewayOpenTelemetry


def instrument_store(store: Any) -> None:
    """A span per SQL statement of the store's engines (SQLite files: the reads' engine too)."""
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    engines = getattr(store, "sync_engines", None) or [store.engine.sync_engine]
    SQLAlchemyInstrumentor().instrument(engines=engines, skip_dep_check=True)  # SQLAlchemy 2.1 works
