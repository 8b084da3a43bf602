"""Traces as an operator's collector receives them: the API and the bridge run as processes
of their own with OTEL_EXPORTER_OTLP_ENDPOINT pointing at the real receiver that
`scripts/services.sh up` starts, and the test reads back what it stored.

One order is followed across processes: the mutation that placed it (its HTTP request, the
operation, the resolver, the SQL), the bridge's fill when a tick crosses it (a trace of its
own, linked to the span that placed the order), and the API's delivery of the fill's event to the
`orderUpdates` subscriber (a span in the fill's trace)."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import httpx
import pytest

from settings import Settings
from tests.api.conftest import Api, new_account
from tests.utils.graphql_ws import graphql_ws
from tests.utils.live import (
    create_topic,
    isolated,
    listed,
    make_tick,
    send,
    symbol_for,
    tick_producer,
    wait_subscribed,
)
from tests.utils.redis_server import free_port
from tests.utils.trace_receiver import Span, TraceReceiver, trace_receiver
from tests.utils.trado_processes import api_environment, trado_process

pytestmark = pytest.mark.services

PLACE = """mutation PlaceTracedOrder($input: PlaceOrderInput!) {
  placeOrder(input: $input) { ... on Order { id status } ... on OrderRejected { reason } } }"""
ORDER_UPDATES = "subscription TracedUpdates { orderUpdates { id status } }"


def only(spans: list[Span], name: str) -> Span:
    found = [span for span in spans if span.name == name]
    assert len(found) == 1, f"{name}: {[s.name for s in spans]}"
    return found[0]


def children(spans: list[Span], parent: Span) -> list[Span]:
    return [span for span in spans if span.parent_span_id == parent.span_id]


async def test_an_order_is_followed_from_its_mutation_to_the_fill_and_the_frame(
    full_settings: Settings, tmp_path: Path
) -> None:
    receiver = trace_receiver()
    settings = isolated(full_settings)
    await create_topic(settings)
    symbol = symbol_for("TR")
    await listed(settings, symbol)
    names = {role: f"trado-{role}-{secrets.token_hex(3)}" for role in ("api", "bridge")}
    traced = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.otlp_endpoint,
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
    }
    port, metrics_port = free_port(), free_port()
    api_env = api_environment(settings, port, **traced, OTEL_SERVICE_NAME=names["api"])
    bridge_env = api_env | {"OTEL_SERVICE_NAME": names["bridge"], "METRICS_PORT": str(metrics_port)}
    api_log = tmp_path / "api.log"
    async with (
        trado_process(["server.py"], api_env, f"http://127.0.0.1:{port}/readyz", api_log),
        trado_process(
            ["-m", "commands.bridge"],
            bridge_env,
            f"http://127.0.0.1:{metrics_port}/metrics",
            tmp_path / "bridge.log",
        ),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client,
        tick_producer(settings) as producer,
    ):
        account = await new_account(Api(client))
        auth = {"authorization": f"Bearer {account.token}"}
        async with graphql_ws(f"ws://127.0.0.1:{port}/graphql", auth) as ws:
            await ws.subscribe("orders", ORDER_UPDATES)
            await wait_subscribed(settings, f"user:{account.id}")
            trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
            order = {"symbol": symbol, "side": "BUY", "type": "LIMIT", "quantity": "10"}
            response = await client.post(
                "/graphql",
                json={"query": PLACE, "variables": {"input": order | {"limitPrice": "100"}}},
                headers=auth | {"traceparent": f"00-{trace_id}-{caller_span}-01"},
            )
            placed = response.json()["data"]["placeOrder"]
            assert placed["status"] == "OPEN", placed
            assert (await ws.next_payload(30))["data"]["orderUpdates"]["status"] == "OPEN"
            await send(producer, make_tick(symbol, 1, "101"), make_tick(symbol, 2, "99.5"))
            assert (await ws.next_payload(30))["data"]["orderUpdates"]["status"] == "FILLED"
    await _placing_trace(receiver, trace_id, caller_span, names["api"])
    await _fill_trace(receiver, trace_id, names)
    _logs_join_the_trace(api_log, trace_id)


async def _placing_trace(
    receiver: TraceReceiver, trace_id: str, caller_span: str, api: str
) -> None:
    """The caller's trace: HTTP request → operation → resolver → SQL, and the OPEN event's
    delivery beneath the operation."""
    spans = await receiver.wait_for_trace(
        trace_id, expect=lambda spans: any(s.name == "deliver user event" for s in spans)
    )
    request = only([s for s in spans if s.parent_span_id == caller_span], "POST /graphql")
    operation = only(children(spans, request), "mutation PlaceTracedOrder")
    assert operation.service == api
    assert operation.attributes["graphql.operation.name"] == "PlaceTracedOrder"
    assert operation.attributes["graphql.operation.type"] == "mutation"
    assert int(operation.attributes["trado.query.cost"]) > 0
    resolver = only(children(spans, operation), "Mutation.placeOrder")
    statements = [s.attributes.get("db.statement", "") for s in children(spans, resolver)]
    assert any(str(text).startswith("INSERT INTO orders") for text in statements), statements
    assert only(spans, "deliver user event").parent_span_id == resolver.span_id


async def _fill_trace(receiver: TraceReceiver, trace_id: str, names: dict[str, str]) -> None:
    """The fill's own trace, linked to the operation that placed the order: the fill and its
    SQL in the bridge, then the FILLED event's delivery in the API."""
    [fill] = await receiver.wait_for_spans(names["bridge"], "fill order", count=1)
    placing = await receiver.wait_for_trace(trace_id, expect=lambda spans: bool(spans))
    resolver = only(placing, "Mutation.placeOrder")  # the span current when the order was made
    assert (trace_id, resolver.span_id) in fill.links
    spans = await receiver.wait_for_trace(
        fill.trace_id,
        expect=lambda spans: any(s.name == "deliver user event" for s in spans),
    )
    statements = [str(s.attributes.get("db.statement", "")) for s in children(spans, fill)]
    assert any(text.startswith("INSERT INTO fill") for text in statements), statements
    delivered = [s for s in spans if s.name == "deliver user event"]
    assert {s.service for s in delivered} == {names["api"]}
    assert all(s.parent_span_id == fill.span_id for s in delivered)


def _logs_join_the_trace(api_log: Path, trace_id: str) -> None:
    """The API's JSON lines written while the request ran (its access line) carry its trace
    id: a log search by trace id finds them."""
    lines = [json.loads(t) for t in api_log.read_text().splitlines() if t.startswith("{")]
    joined = [line for line in lines if line.get("trace_id") == trace_id]
    assert any("POST /graphql" in str(line["message"]) for line in joined), joined or lines[-5:]
