"""Traces over OpenTelemetry for every entry point, off unless an OTLP endpoint is set
(`Settings.traces_endpoint`); when off, nothing is installed and the API's hooks are left out
of the schema, so tracing costs nothing.

When on: one tracer provider for the process (service name from OTEL_SERVICE_NAME, else the
entry point's), spans batched to the collector over OTLP/HTTP, the sampler OTEL_TRACES_SAMPLER
names, and the maintained instrumentation packages for what they cover: FastAPI's own
telemetry (HTTP requests: `commands.api`), asyncpg (PostgreSQL statements, without their
parameters) and, in the API, redis-py (commands). SQLite, embedded mode's database, is not
traced.
A database or Redis call outside any traced operation is not sampled: the pipeline's flushes,
several a second, would otherwise each be a trace of their own."""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    Decision,
    ParentBased,
    ParentBasedTraceIdRatio,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind, TraceState
from opentelemetry.util.types import Attributes

from settings import Settings


def configure_tracing(settings: Settings, service: str, *, trace_redis: bool = False) -> bool:
    """Install the process's tracer provider when an endpoint is set; whether it did.
    `trace_redis`: the API's. A worker's Redis calls are the pipeline's (a publish per batch,
    never inside an operation), and redis-py's instrumentation formats a call's arguments
    (a publish script's hundreds) before the sampler can drop its span."""
    endpoint = settings.traces_endpoint
    if endpoint is None:
        return False
    provider = TracerProvider(
        resource=Resource.create({SERVICE_NAME: settings.otel_service_name or service}),
        sampler=BackendCallsInOperations(chosen_sampler(settings)),
    )
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    if trace_redis:
        RedisInstrumentor().instrument(tracer_provider=provider)
    AsyncPGInstrumentor().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]
    return True


def flush_traces() -> None:
    """Send the spans still waiting in the batch, before the process ends: uvicorn ends a
    process by re-raising the signal that stopped it, so no exit hook would run."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.force_flush()


def chosen_sampler(settings: Settings) -> Sampler:
    """OTEL_TRACES_SAMPLER's sampler, with OTEL_TRACES_SAMPLER_ARG for the ratio ones."""
    ratio = settings.otel_traces_sampler_arg
    samplers: dict[str, Sampler] = {
        "always_on": ALWAYS_ON,
        "always_off": ALWAYS_OFF,
        "traceidratio": TraceIdRatioBased(ratio),
        "parentbased_always_on": ParentBased(ALWAYS_ON),
        "parentbased_always_off": ParentBased(ALWAYS_OFF),
        "parentbased_traceidratio": ParentBasedTraceIdRatio(ratio),
    }
    return samplers[settings.otel_traces_sampler]


class BackendCallsInOperations(Sampler):
    """`sampler`'s decisions, except that a client span without a parent (a database or Redis
    call no operation made) is dropped."""

    def __init__(self, sampler: Sampler) -> None:
        self._sampler = sampler

    def should_sample(  # noqa: PLR0917 (the SDK's signature)
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        parent = trace.get_current_span(parent_context).get_span_context()
        if kind == SpanKind.CLIENT and not parent.is_valid:
            return SamplingResult(Decision.DROP)
        return self._sampler.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"BackendCallsInOperations{{{self._sampler.get_description()}}}"
