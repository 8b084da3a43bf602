"""The trace receiver of `scripts/services.sh up` end to end: spans that the OpenTelemetry SDK
exports over OTLP/HTTP, configured the standard way (`OTEL_EXPORTER_OTLP_ENDPOINT`), come back
from its query API whole: parents, links, kinds, attributes and status as they were sent."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Link, SpanKind, StatusCode, format_span_id, format_trace_id

from tests.utils.trace_receiver import Span, TraceReceiver, trace_receiver

pytestmark = pytest.mark.services


@pytest.fixture
def receiver() -> TraceReceiver:
    return trace_receiver()


@pytest.fixture
def provider(receiver: TraceReceiver, monkeypatch: pytest.MonkeyPatch) -> Iterator[TracerProvider]:
    """A tracer provider of the test's own (a service name no other test uses), exporting each
    span as it ends to the endpoint the environment names, as Trado's processes are told it."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.otlp_endpoint)
    service = f"receiver-test-{secrets.token_hex(4)}"
    tracer_provider = TracerProvider(resource=Resource.create({"service.name": service}))
    tracer_provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter()))
    yield tracer_provider
    tracer_provider.shutdown()


def service_of(provider: TracerProvider) -> str:
    return str(provider.resource.attributes["service.name"])


async def test_a_trace_comes_back_whole(receiver: TraceReceiver, provider: TracerProvider) -> None:
    tracer = provider.get_tracer("trado.tests")
    with tracer.start_as_current_span("placing", kind=SpanKind.PRODUCER) as earlier:
        pass
    placed = earlier.get_span_context()
    with (
        tracer.start_as_current_span(
            "mutation placeOrder",
            kind=SpanKind.SERVER,
            attributes={"graphql.operation.name": "placeOrder", "order.count": 2, "paper": True},
        ) as root,
        tracer.start_as_current_span("fill", kind=SpanKind.CONSUMER, links=[Link(placed)]) as child,
    ):
        child.set_attribute("fill.ratio", 0.5)
        child.set_status(StatusCode.ERROR, "rejected")
    trace_id = format_trace_id(root.get_span_context().trace_id)

    spans = await receiver.wait_for_trace(trace_id, expect=lambda spans: len(spans) == 2)

    by_name = {span.name: span for span in spans}
    top, fill = by_name["mutation placeOrder"], by_name["fill"]
    assert top == Span(
        trace_id=trace_id,
        span_id=format_span_id(root.get_span_context().span_id),
        parent_span_id=None,
        name="mutation placeOrder",
        service=service_of(provider),
        kind="server",
        attributes={"graphql.operation.name": "placeOrder", "order.count": 2, "paper": True},
        links=[],
        status="unset",
        start_ns=top.start_ns,
    )
    assert top.start_ns > 0
    assert fill.parent_span_id == top.span_id
    assert fill.kind == "consumer"
    assert fill.status == "error"
    assert fill.attributes == {"fill.ratio": 0.5}
    assert fill.links == [(format_trace_id(placed.trace_id), format_span_id(placed.span_id))]


async def test_traces_are_found_by_service_and_span_name(
    receiver: TraceReceiver, provider: TracerProvider
) -> None:
    since = datetime.now(UTC)
    tracer = provider.get_tracer("trado.tests")
    with (
        tracer.start_as_current_span("bridge batch") as batch,
        tracer.start_as_current_span("match orders"),
    ):
        pass
    with tracer.start_as_current_span("unrelated"):
        pass

    spans = await receiver.wait_for_trace_of(
        service_of(provider),
        span_name="match orders",
        since=since,
        expect=lambda spans: {span.name for span in spans} == {"bridge batch", "match orders"},
    )

    batch_trace = format_trace_id(batch.get_span_context().trace_id)
    assert {span.trace_id for span in spans} == {batch_trace}
    [match] = await receiver.wait_for_spans(service_of(provider), "match orders", since=since)
    assert match.trace_id == batch_trace
    assert await receiver.find_traces(service_of(provider), span_name="none", since=since) == []


async def test_waiting_for_what_never_arrives_fails_naming_what_did(
    receiver: TraceReceiver, provider: TracerProvider
) -> None:
    with provider.get_tracer("trado.tests").start_as_current_span("alone") as alone:
        pass
    trace_id = format_trace_id(alone.get_span_context().trace_id)
    await receiver.wait_for_trace(trace_id, expect=lambda spans: len(spans) == 1)

    with pytest.raises(AssertionError, match=r"not as expected within 0\.5s.*:alone\(root\)"):
        await receiver.wait_for_trace(trace_id, expect=lambda spans: len(spans) == 2, timeout=0.5)
