"""The trace receiver that `scripts/services.sh up` starts (Jaeger v2, scripts/otel.sh): where
to send spans over OTLP, and the spans it stored, read back through Jaeger's query API (api_v3,
which answers in OTLP's own JSON shape: parents, links and kinds as the exporter sent them).

Its addresses come from the same file as the other services' (`.services/services.env`, or
`TRADO_SERVICES_ENV`): `OTEL_EXPORTER_OTLP_ENDPOINT` and `TRADO_TRACE_QUERY_URL`. Spans reach
the store a moment after the exporter sends them, so a reader polls until what it expects is
there (`wait_for_trace`, `wait_for_trace_of`).
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from dotenv import dotenv_values

from bench.services import ServicesMissing, services_file

HOW_TO_START = (
    "start it with `scripts/services.sh up` (or `scripts/otel.sh up` for the receiver alone)"
)
POLL_SECONDS = 0.1
# OTLP's SpanKind enum, in its JSON forms (a name or a number)
KINDS = {
    "SPAN_KIND_UNSPECIFIED": "unspecified",
    "SPAN_KIND_INTERNAL": "internal",
    "SPAN_KIND_SERVER": "server",
    "SPAN_KIND_CLIENT": "client",
    "SPAN_KIND_PRODUCER": "producer",
    "SPAN_KIND_CONSUMER": "consumer",
}
KIND_NUMBERS = dict(enumerate(KINDS.values()))
STATUS_CODES = {"STATUS_CODE_UNSET": "unset", "STATUS_CODE_OK": "ok", "STATUS_CODE_ERROR": "error"}
STATUS_NUMBERS = dict(enumerate(STATUS_CODES.values()))


@dataclass(frozen=True)
class Receiver:
    otlp_endpoint: str  # OTLP/HTTP base URL: what OTEL_EXPORTER_OTLP_ENDPOINT is set to
    query_url: str  # Jaeger's query API


@dataclass(frozen=True)
class Span:
    """One stored span; ids are lowercase hex (trace 32 digits, span 16), as W3C traceparent
    and the SDK's `format_trace_id` write them."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    service: str
    kind: str  # internal, server, client, producer, consumer (or unspecified)
    attributes: dict[str, Any] = field(default_factory=dict)
    links: list[tuple[str, str]] = field(default_factory=list)  # (trace_id, span_id)
    status: str = "unset"  # unset, ok, error
    start_ns: int = 0


def read_receiver() -> Receiver:
    """The receiver's addresses from the services file; `ServicesMissing` saying how to start
    it when the file or its lines are missing."""
    path = services_file()
    if not path.is_file():
        raise ServicesMissing(f"{path} not found: the trace receiver is not up; {HOW_TO_START}")
    values = dotenv_values(path)
    endpoint = values.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    query = values.get("TRADO_TRACE_QUERY_URL")
    if not endpoint or not query:
        raise ServicesMissing(
            f"{path} lacks OTEL_EXPORTER_OTLP_ENDPOINT or TRADO_TRACE_QUERY_URL: the trace "
            f"receiver is not up; {HOW_TO_START}"
        )
    return Receiver(otlp_endpoint=endpoint.rstrip("/"), query_url=query.rstrip("/"))


async def check_receiver(receiver: Receiver) -> None:
    """Fail loudly when the query API does not answer."""
    try:
        async with httpx.AsyncClient(timeout=3) as client:
            response = await client.get(f"{receiver.query_url}/api/v3/services")
            response.raise_for_status()
    except httpx.HTTPError as error:
        raise ServicesMissing(
            f"the trace receiver does not answer at {receiver.query_url} ({error!r}); "
            f"{HOW_TO_START}"
        ) from None


async def wait_for_trace(
    trace_id: str,
    *,
    expect: Callable[[list[Span]], bool],
    timeout: float = 10.0,  # noqa: ASYNC109 (a polling deadline: the message names what came)
) -> list[Span]:
    """The spans of trace `trace_id` once `expect` holds for them (spans arrive as their
    processes export them: a trace is whole only when the last one has); an AssertionError
    naming what did arrive when it does not hold within `timeout` seconds."""
    receiver = read_receiver()
    spans: list[Span] = []
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=receiver.query_url, timeout=5) as client:
        while True:
            response = await client.get(f"/api/v3/traces/{trace_id}")
            if response.status_code != httpx.codes.NOT_FOUND:
                response.raise_for_status()
                spans = parse_spans(response.json())
                if expect(spans):
                    return spans
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"trace {trace_id}: not as expected within {timeout}s; the receiver has "
                    f"{describe(spans)}"
                )
            await asyncio.sleep(POLL_SECONDS)


async def find_traces(
    service: str,
    *,
    span_name: str | None = None,
    since: datetime | None = None,
    limit: int = 20,
) -> list[list[Span]]:
    """The traces that have a span of `service` (named `span_name`, when given) started after
    `since` (default: the last hour), newest first as the receiver orders them; each trace
    whole (every service's spans), for tests that do not know a trace's id."""
    receiver = read_receiver()
    start = since or datetime.now(UTC) - timedelta(hours=1)
    params = {
        "query.service_name": service,
        "query.start_time_min": start.isoformat(),
        "query.start_time_max": (datetime.now(UTC) + timedelta(minutes=1)).isoformat(),
        "query.num_traces": str(limit),
    }
    if span_name is not None:
        params["query.operation_name"] = span_name
    async with httpx.AsyncClient(base_url=receiver.query_url, timeout=5) as client:
        response = await client.get("/api/v3/traces", params=params)
        if response.status_code == httpx.codes.NOT_FOUND:  # none matched
            return []
        response.raise_for_status()
        traces: dict[str, list[Span]] = {}
        for span in parse_spans(response.json()):
            traces.setdefault(span.trace_id, []).append(span)
        return list(traces.values())


async def wait_for_trace_of(
    service: str,
    *,
    span_name: str,
    expect: Callable[[list[Span]], bool],
    timeout: float = 10.0,  # noqa: ASYNC109 (as wait_for_trace's)
    since: datetime | None = None,
) -> list[Span]:
    """The first trace with a span `span_name` of `service` (started after `since`) for which
    `expect` holds; an AssertionError naming what arrived when none does within `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        traces = await find_traces(service, span_name=span_name, since=since)
        for spans in traces:
            if expect(spans):
                return spans
        if time.monotonic() >= deadline:
            seen = "; ".join(describe(spans) for spans in traces) or "no such trace"
            raise AssertionError(
                f"no trace of {service!r} with a span {span_name!r} as expected within "
                f"{timeout}s; the receiver has: {seen}"
            )
        await asyncio.sleep(POLL_SECONDS)


def describe(spans: list[Span]) -> str:
    """`service:name(parent)` per span, for a failure message."""
    if not spans:
        return "no span"
    return ", ".join(f"{s.service}:{s.name}({s.parent_span_id or 'root'})" for s in spans)


def parse_spans(body: dict[str, Any]) -> list[Span]:
    """The spans of an api_v3 answer (`{"result": {"resourceSpans": [...]}}`, OTLP/JSON)."""
    spans: list[Span] = []
    for resource_spans in body.get("result", {}).get("resourceSpans", []):
        resource = attribute_values(resource_spans.get("resource", {}).get("attributes", []))
        service = str(resource.get("service.name", ""))
        for scope_spans in resource_spans.get("scopeSpans", []):
            spans.extend(parse_span(raw, service) for raw in scope_spans.get("spans", []))
    return spans


def parse_span(raw: dict[str, Any], service: str) -> Span:
    kind = raw.get("kind", 0)
    status = raw.get("status", {}).get("code", 0)
    return Span(
        trace_id=hex_id(raw["traceId"]),
        span_id=hex_id(raw["spanId"]),
        parent_span_id=hex_id(raw["parentSpanId"]) if raw.get("parentSpanId") else None,
        name=raw["name"],
        service=service,
        kind=KIND_NUMBERS[kind] if isinstance(kind, int) else KINDS[kind],
        attributes=attribute_values(raw.get("attributes", [])),
        links=[(hex_id(link["traceId"]), hex_id(link["spanId"])) for link in raw.get("links", [])],
        status=STATUS_NUMBERS[status] if isinstance(status, int) else STATUS_CODES[status],
        start_ns=int(raw.get("startTimeUnixNano", 0)),
    )


def hex_id(value: str) -> str:
    """An id as lowercase hex: OTLP/JSON writes hex; protobuf's JSON mapping, base64."""
    if all(char in "0123456789abcdefABCDEF" for char in value) and len(value) in (16, 32):
        return value.lower()
    return base64.b64decode(value).hex()


def attribute_values(attributes: list[dict[str, Any]]) -> dict[str, Any]:
    return {item["key"]: any_value(item.get("value", {})) for item in attributes}


SCALARS: dict[str, Callable[[Any], Any]] = {
    "stringValue": str,
    "intValue": int,  # OTLP/JSON writes an int64 as a string
    "doubleValue": float,
    "boolValue": bool,
    "bytesValue": base64.b64decode,
}


def any_value(value: dict[str, Any]) -> Any:
    """An OTLP AnyValue as Python: str, int, float, bool, bytes, list, dict."""
    for key, convert in SCALARS.items():
        if key in value:
            return convert(value[key])
    if "arrayValue" in value:
        return [any_value(item) for item in value["arrayValue"].get("values", [])]
    if "kvlistValue" in value:
        return attribute_values(value["kvlistValue"].get("values", []))
    return None
