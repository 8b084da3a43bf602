"""The trace receiver that `scripts/services.sh up` starts (Jaeger v2, scripts/otel.sh): where
to send spans over OTLP, and the spans it stored, read back through Jaeger's query API (api_v3,
which answers in OTLP's own JSON shape: parents, links and kinds as the exporter sent them).

`trace_receiver()` reads its addresses from the same file as the other services' settings
(`.services/services.env`, or `TRADO_SERVICES_ENV`): `OTEL_EXPORTER_OTLP_ENDPOINT` and
`TRADO_TRACE_QUERY_URL`, and fails the test, saying how to start it, when it is not up. Spans
reach the store as each process exports them (a batch processor waits up to 5 s), so every
reader polls until what it expects is there.
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
import pytest
from dotenv import dotenv_values

from bench.targets import services_file

HOW_TO_START = (
    "start it with `scripts/services.sh up` (or `scripts/otel.sh up` for the receiver alone)"
)
WAIT_SECONDS = 30.0  # the SDK's batch processor exports every 5 s; a busy machine is slower
POLL_SECONDS = 0.2
# OTLP's SpanKind and status code enums, as api_v3 writes them (numbers; names also accepted)
KINDS = ("unspecified", "internal", "server", "client", "producer", "consumer")
STATUSES = ("unset", "ok", "error")

Predicate = Callable[[list["Span"]], bool]


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


@dataclass(frozen=True)
class TraceReceiver:
    otlp_endpoint: str  # OTLP/HTTP base URL: what OTEL_EXPORTER_OTLP_ENDPOINT is set to
    query_url: str  # Jaeger's query API

    async def wait_for_trace(
        self,
        trace_id: str,
        *,
        expect: Predicate,
        timeout: float = WAIT_SECONDS,  # noqa: ASYNC109 (a polling deadline: the message names what came)
    ) -> list[Span]:
        """The spans of trace `trace_id` once `expect` holds for them (a trace is whole only
        when its last process has exported); an AssertionError naming what did arrive when it
        does not hold within `timeout` seconds."""
        spans: list[Span] = []
        deadline = time.monotonic() + timeout
        async with self._client() as client:
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
        self,
        service: str,
        *,
        span_name: str | None = None,
        since: datetime | None = None,
        limit: int = 20,
    ) -> list[list[Span]]:
        """The traces with a span of `service` (named `span_name`, when given) that started
        after `since` (default: the last hour); each trace whole, every service's spans."""
        start = since or datetime.now(UTC) - timedelta(hours=1)
        params = {
            "query.service_name": service,
            "query.start_time_min": start.isoformat(),
            "query.start_time_max": (datetime.now(UTC) + timedelta(minutes=1)).isoformat(),
            "query.num_traces": str(limit),
        }
        if span_name is not None:
            params["query.operation_name"] = span_name
        async with self._client() as client:
            response = await client.get("/api/v3/traces", params=params)
        if response.status_code == httpx.codes.NOT_FOUND:  # none matched
            return []
        response.raise_for_status()
        traces: dict[str, list[Span]] = {}
        for span in parse_spans(response.json()):
            traces.setdefault(span.trace_id, []).append(span)
        return list(traces.values())

    async def wait_for_trace_of(
        self,
        service: str,
        *,
        span_name: str,
        expect: Predicate,
        timeout: float = WAIT_SECONDS,  # noqa: ASYNC109 (as wait_for_trace's)
        since: datetime | None = None,
    ) -> list[Span]:
        """The first trace with a span `span_name` of `service` (started after `since`) for
        which `expect` holds, for a test that does not know the trace's id."""
        deadline = time.monotonic() + timeout
        while True:
            traces = await self.find_traces(service, span_name=span_name, since=since)
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

    async def wait_for_spans(
        self,
        service: str,
        span_name: str,
        *,
        count: int = 1,
        timeout: float = WAIT_SECONDS,  # noqa: ASYNC109 (as wait_for_trace's)
        since: datetime | None = None,
    ) -> list[Span]:
        """The spans named `span_name` of `service`, in any trace, once there are at least
        `count` of them."""
        deadline = time.monotonic() + timeout
        while True:
            traces = await self.find_traces(service, span_name=span_name, since=since)
            found = [
                span
                for spans in traces
                for span in spans
                if span.service == service and span.name == span_name
            ]
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"{len(found)} spans {span_name!r} of {service!r} within {timeout}s, "
                    f"expected {count}"
                )
            await asyncio.sleep(POLL_SECONDS)

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.query_url, timeout=5)


def trace_receiver() -> TraceReceiver:
    """The receiver of the services file, once its query API answers; the test fails, saying
    how to start it, when the file names none or it does not answer."""
    path = services_file()
    values = dotenv_values(path) if path.is_file() else {}
    endpoint = values.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    query = values.get("TRADO_TRACE_QUERY_URL")
    if not endpoint or not query:
        pytest.fail(
            f"{path} names no trace receiver (OTEL_EXPORTER_OTLP_ENDPOINT, "
            f"TRADO_TRACE_QUERY_URL); {HOW_TO_START}",
            pytrace=False,
        )
    receiver = TraceReceiver(otlp_endpoint=endpoint.rstrip("/"), query_url=query.rstrip("/"))
    try:
        httpx.get(f"{receiver.query_url}/api/v3/services", timeout=3).raise_for_status()
    except httpx.HTTPError as error:
        pytest.fail(
            f"the trace receiver does not answer at {receiver.query_url} ({error!r}); "
            f"{HOW_TO_START}",
            pytrace=False,
        )
    return receiver


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
    return Span(
        trace_id=hex_id(raw["traceId"]),
        span_id=hex_id(raw["spanId"]),
        parent_span_id=hex_id(raw["parentSpanId"]) if raw.get("parentSpanId") else None,
        name=raw["name"],
        service=service,
        kind=enum_name(raw.get("kind", 0), KINDS, "SPAN_KIND_"),
        attributes=attribute_values(raw.get("attributes", [])),
        links=[(hex_id(link["traceId"]), hex_id(link["spanId"])) for link in raw.get("links", [])],
        status=enum_name(raw.get("status", {}).get("code", 0), STATUSES, "STATUS_CODE_"),
        start_ns=int(raw.get("startTimeUnixNano", 0)),
    )


def enum_name(value: int | str, names: tuple[str, ...], prefix: str) -> str:
    """An OTLP enum as JSON writes it (its number, or its name such as SPAN_KIND_SERVER)."""
    if isinstance(value, int):
        return names[value]
    return value.removeprefix(prefix).lower()


def hex_id(value: str) -> str:
    """An id as lowercase hex: OTLP/JSON writes hex; protobuf's JSON mapping, base64."""
    if len(value) in (16, 32) and all(char in "0123456789abcdefABCDEF" for char in value):
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
