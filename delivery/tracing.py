"""Spans of live delivery, which must never be one per message: a subscription's start (parse,
validate, cost, the opening read and frames) is a span that ends once its opening is sent,
on every transport; what follows is counted by the metrics, not spanned. Only a user's event
that carries a trace (an order's fill, an alert) gets a span for its delivery, in that trace."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from opentelemetry.trace import Span
from opentelemetry.util.types import Attributes

from trading.events import OrderEvent, Recorded
from trading.tracing import TRACER, context_of

# The span of the subscription starting in this context (the operation's, begun by the schema's
# tracing extension), ended by `subscription_started`.
STARTING: ContextVar[Span | None] = ContextVar("subscription_starting", default=None)


def subscription_started() -> None:
    """The current subscription's opening is sent: its start span ends here."""
    span = STARTING.get()
    if span is not None and span.is_recording():
        span.end()


@contextmanager
def delivering(item: Recorded) -> Iterator[None]:
    """A span, in the trace that recorded `item`, for handing it to its subscriber (until the
    transport asks for the next one); nothing for an untraced event."""
    context = context_of(item.trace)
    if context is None:
        yield
        return
    kind = "order" if isinstance(item.event, OrderEvent) else "notification"
    facts: Attributes = {"trado.event.sequence": item.sequence, "trado.event.type": kind}
    span = TRACER.start_span("deliver user event", context=context, attributes=facts)
    try:
        yield
    finally:
        span.end()
