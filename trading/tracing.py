"""Trace context that outlives a request: a resting order or an alert keeps the W3C
`traceparent` of the operation that placed it, and an event the trace that recorded it, so
the bridge's fill (`streaming.stages.matching`) and the frame that delivers the event
(`delivery.user_events`) can be followed from the mutation. Without a tracer provider (tracing
off) nothing is recording and every function here returns None or nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import Attributes

TRACER = trace.get_tracer("trado")
TRACEPARENT = "traceparent"
_PROPAGATION = TraceContextTextMapPropagator()


def current_traceparent() -> str | None:
    """The recording span's context as a `traceparent` header value (None: none records)."""
    span = trace.get_current_span()
    if not span.is_recording():
        return None
    carrier: dict[str, str] = {}
    _PROPAGATION.inject(carrier)
    return carrier.get(TRACEPARENT)


def context_of(traceparent: str | None) -> Context | None:
    """The context a stored `traceparent` names, to start a child span in (None: none, or
    not a valid header)."""
    if not traceparent:
        return None
    context = _PROPAGATION.extract({TRACEPARENT: traceparent})
    if not trace.get_current_span(context).get_span_context().is_valid:
        return None
    return context


def links_to(*traceparents: str | None) -> list[Link]:
    """Links to the spans stored `traceparent`s name (what caused a span besides its parent)."""
    links = []
    for value in traceparents:
        context = context_of(value)
        if context is not None:
            links.append(Link(trace.get_current_span(context).get_span_context()))
    return links


@contextmanager
def span_caused_by(
    name: str, *traceparents: str | None, attributes: Attributes = None
) -> Iterator[Span]:
    """A new trace for work a tick set off (a fill, an alert), linked to the operations that
    set it up; current in the block, so what it records carries it."""
    with TRACER.start_as_current_span(
        name, kind=SpanKind.INTERNAL, links=links_to(*traceparents), attributes=attributes
    ) as span:
        yield span
