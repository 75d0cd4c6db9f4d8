"""Trace context of a result: saved with the recorded write, linked from every delivery attempt.

Uses the OpenTelemetry API only; with no SDK configured (tracing off) spans are non-recording no-ops.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from store.interface import DeliveryRecord
from store.transactions import tracing_on

TRACEPARENT = "traceparent"  # key in the stored prepared write (ignored by PreparedWrite's model)
_tracer = trace.get_tracer("gateway.delivery")
_propagator = TraceContextTextMapPropagator()


def with_trace_context(prepared: dict[str, Any]) -> dict[str, Any]:
    """The prepared write with the current W3C `traceparent`, when a sampled span is active."""
    if not tracing_on() or not trace.get_current_span().get_span_context().is_valid:
        return prepared
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    if TRACEPARENT in carrier:
        return {**prepared, TRACEPARENT: carrier[TRACEPARENT]}
    return prepared


def _recorded_link(record: DeliveryRecord) -> list[Link]:
    value = (record.prepared or {}).get(TRACEPARENT)
    if not isinstance(value, str):
        return []
    context = trace.get_current_span(_propagator.extract({TRACEPARENT: value})).get_span_context()
    return [Link(context, {"gateway.link": "recorded-by"})] if context.is_valid else []


@contextmanager
def attempt_span(record: DeliveryRecord) -> Iterator[Span]:
    """One span per delivery attempt: a child of the current request when there is one (the
    mutation's own attempt), and always linked to the request that recorded the result."""
    if not tracing_on():
        yield trace.INVALID_SPAN
        return
    attributes = {"gateway.order_id": record.ref.encode(), "gateway.result_id": record.result.id,
                  "gateway.connection_id": record.ref.connection_id}  # fmt: skip
    with _tracer.start_as_current_span(
        "delivery attempt", kind=SpanKind.INTERNAL, links=_recorded_link(record), attributes=attributes
    ) as span:
        yield span
