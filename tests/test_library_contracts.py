"""What Trado relies on of libraries' internals (private names, undocumented classes and their
hooks), checked against the installed versions: the modules that fence them in say why each is
needed (`delivery/strawberry_internals.py`, `delivery/uvicorn_internals.py`,
`delivery/graphql_core_internals.py`, `delivery/websockets_internals.py`,
`streaming/log/aiokafka_internals.py`, `streaming/redis_packing.py`). A failure names the
library, its installed version and the missing piece, so an upgrade that changes one says so
here (`make upgrade-check` runs this file on the newest releases). Service-free: nothing here
opens a connection.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
from collections.abc import AsyncGenerator
from importlib.metadata import version
from typing import Any, cast

import pytest
import strawberry
from graphql import GraphQLSchema, parse

STRAWBERRY = "strawberry-graphql"
GRAPHQL_CORE = "graphql-core"
UVICORN = "uvicorn"
AIOKAFKA = "aiokafka"
WEBSOCKETS = "websockets"
REDIS = "redis"

TRANSPORT_WS = "strawberry.subscriptions.protocols.graphql_transport_ws.handlers"
LEGACY_WS = "strawberry.subscriptions.protocols.graphql_ws.handlers"
VIEW = "strawberry.http.async_base_view"
STREAMING = "strawberry.http.streaming"
SANS_IO = "uvicorn.protocols.websockets.websockets_sansio_impl"
HTTPTOOLS = "uvicorn.protocols.http.httptools_impl"


def broken(library: str, piece: str, detail: str) -> str:
    return f"{library} {version(library)}: {piece} {detail}"


def find(library: str, piece: str) -> Any:
    """`module:Attribute.attribute` of `library`, or the test fails naming what is gone."""
    module_name, _, path = piece.partition(":")
    try:
        found: Any = importlib.import_module(module_name)
        for name in path.split(".") if path else ():
            found = getattr(found, name)
    except (ImportError, AttributeError) as error:
        pytest.fail(broken(library, piece, f"is gone ({error})"))
    return found


# Each piece Trado imports, subclasses, overrides or calls; for a function or method, the
# parameters Trado's override or call takes (in order, from the first).
PIECES: list[tuple[str, str, tuple[str, ...] | None]] = [
    (STRAWBERRY, f"{TRANSPORT_WS}:BaseGraphQLTransportWSHandler", None),
    (STRAWBERRY, f"{TRANSPORT_WS}:Operation", None),
    (
        STRAWBERRY,
        f"{TRANSPORT_WS}:BaseGraphQLTransportWSHandler._get_pre_execution_close_reason",
        ("error",),
    ),
    (
        STRAWBERRY,
        f"{TRANSPORT_WS}:BaseGraphQLTransportWSHandler.handle_subscribe",
        ("self", "message"),
    ),
    (
        STRAWBERRY,
        f"{TRANSPORT_WS}:BaseGraphQLTransportWSHandler.run_operation",
        ("self", "operation"),
    ),
    (STRAWBERRY, f"{TRANSPORT_WS}:BaseGraphQLTransportWSHandler.forget_id", ("self", "id")),
    (STRAWBERRY, f"{TRANSPORT_WS}:BaseGraphQLTransportWSHandler.send_message", ("self", "message")),
    (
        STRAWBERRY,
        f"{TRANSPORT_WS}:BaseGraphQLTransportWSHandler.cleanup_operation",
        ("self", "operation_id"),
    ),
    (STRAWBERRY, f"{TRANSPORT_WS}:BaseGraphQLTransportWSHandler.shutdown", ("self",)),
    (STRAWBERRY, f"{TRANSPORT_WS}:BaseGraphQLTransportWSHandler.handle", ("self",)),
    (STRAWBERRY, f"{TRANSPORT_WS}:BaseGraphQLTransportWSHandler.on_request_accepted", ("self",)),
    (
        STRAWBERRY,
        f"{TRANSPORT_WS}:BaseGraphQLTransportWSHandler.handle_message",
        ("self", "message"),
    ),
    (
        STRAWBERRY,
        f"{TRANSPORT_WS}:BaseGraphQLTransportWSHandler.handle_invalid_message",
        ("self", "error_message"),
    ),
    (
        STRAWBERRY,
        f"{TRANSPORT_WS}:BaseGraphQLTransportWSHandler.handle_connection_init",
        ("self", "message"),
    ),
    (STRAWBERRY, f"{LEGACY_WS}:BaseGraphQLWSHandler.handle", ("self",)),
    (STRAWBERRY, f"{LEGACY_WS}:BaseGraphQLWSHandler.handle_message", ("self", "message")),
    (
        STRAWBERRY,
        f"{LEGACY_WS}:BaseGraphQLWSHandler.handle_async_results",
        ("self", "operation_id", "query", "operation_name", "variables"),
    ),
    (STRAWBERRY, f"{VIEW}:AsyncWebSocketAdapter", None),
    (
        STRAWBERRY,
        f"{VIEW}:AsyncBaseHTTPView._get_stream_transport_from_headers",
        ("self", "headers"),
    ),
    (
        STRAWBERRY,
        f"{VIEW}:AsyncBaseHTTPView._stream_result",
        ("self", "request", "result", "transport"),
    ),
    (
        STRAWBERRY,
        f"{VIEW}:AsyncBaseHTTPView._process_stream_result",
        ("self", "request", "value", "all_pending"),
    ),
    (STRAWBERRY, f"{STREAMING}:AsyncTextStream", None),
    (STRAWBERRY, f"{STREAMING}:HTTPStreamTransport.heartbeat_message", ("self", "encode_json")),
    (STRAWBERRY, f"{STREAMING}:HTTPStreamTransport.encode_complete", ("self",)),
    (STRAWBERRY, f"{STREAMING}:SSETransport.accepts", ("self", "accept")),
    (STRAWBERRY, f"{STREAMING}:MultipartSubscriptionTransport", None),
    (STRAWBERRY, "strawberry.schema.schema:StrawberryGraphQLCoreExecutionContext", None),
    (GRAPHQL_CORE, "graphql.execution:Executor.build_per_event_executor", ("self", "payload")),
    (
        GRAPHQL_CORE,
        "graphql.execution.collect_fields:collect_fields",
        ("schema", "fragments", "variable_values", "runtime_type", "operation", "hide_suggestions"),
    ),
    (
        GRAPHQL_CORE,
        "graphql.execution.collect_fields:collect_subfields",
        (
            "schema",
            "fragments",
            "variable_values",
            "operation",
            "return_type",
            "field_details_list",
            "hide_suggestions",
        ),
    ),
    (
        STRAWBERRY,
        "strawberry.schema.schema_converter:GraphQLCoreConverter.DEFINITION_BACKREF",
        None,
    ),
    (UVICORN, f"{SANS_IO}:WebSocketsSansIOProtocol.handle_connect", ("self", "event")),
    (
        UVICORN,
        f"{SANS_IO}:WebSocketsSansIOProtocol.__init__",
        ("self", "config", "server_state", "app_state"),
    ),
    (UVICORN, f"{HTTPTOOLS}:HttpToolsProtocol.on_headers_complete", ("self",)),
    (UVICORN, f"{HTTPTOOLS}:RequestResponseCycle", None),
    (UVICORN, "uvicorn.protocols.http.flow_control:FlowControl.drain", ("self",)),
    (AIOKAFKA, "aiokafka.conn:collect_hosts", ("hosts",)),
    (AIOKAFKA, "aiokafka.conn:create_conn", ("host", "port")),
    (AIOKAFKA, "aiokafka.protocol.metadata:MetadataRequest", None),
    (AIOKAFKA, "aiokafka.client:AIOKafkaClient.bootstrap", ("self",)),
    (AIOKAFKA, "aiokafka.client:AIOKafkaClient.fetch_all_metadata", ("self",)),
    (AIOKAFKA, "aiokafka.client:AIOKafkaClient.force_metadata_update", ("self",)),
    (AIOKAFKA, "aiokafka.client:AIOKafkaClient.close", ("self",)),
    (AIOKAFKA, "aiokafka.cluster:ClusterMetadata.partitions_for_topic", ("self", "topic")),
    (WEBSOCKETS, "websockets.speedups:apply_mask", None),
    (REDIS, "redis.asyncio.connection:Connection.pack_command", ("self", "args")),
]


@pytest.mark.parametrize(("library", "piece", "parameters"), PIECES, ids=[p[1] for p in PIECES])
def test_each_piece_is_there_as_used(
    library: str, piece: str, parameters: tuple[str, ...] | None
) -> None:
    found = find(library, piece)
    if parameters is None:
        return
    try:
        names = tuple(inspect.signature(found).parameters)
    except (TypeError, ValueError):  # a C function without a signature: existence suffices
        return
    assert names[: len(parameters)] == parameters, broken(
        library, piece, f"takes {names}, Trado passes {parameters}"
    )


# Each hook Trado overrides or attribute it reads, as the library's own code calls or sets it:
# an override nobody calls any more would fail silently.
CALLS: list[tuple[str, str, str]] = [
    (
        STRAWBERRY,
        f"{TRANSPORT_WS}:BaseGraphQLTransportWSHandler",
        "self._get_pre_execution_close_reason(",
    ),
    (STRAWBERRY, f"{VIEW}:AsyncBaseHTTPView", "self._get_stream_transport_from_headers("),
    (STRAWBERRY, f"{VIEW}:AsyncBaseHTTPView", "self._stream_result("),
    (STRAWBERRY, f"{VIEW}:AsyncBaseHTTPView", "self._process_stream_result("),
    (STRAWBERRY, f"{TRANSPORT_WS}:Operation", "self.handler.forget_id("),
    (STRAWBERRY, f"{TRANSPORT_WS}:BaseGraphQLTransportWSHandler", "self.run_operation("),
    # What `handle` does, which the lean socket's `TransportWSHandler.receive` does the same.
    (STRAWBERRY, f"{TRANSPORT_WS}:BaseGraphQLTransportWSHandler", "self.on_request_accepted()"),
    (
        STRAWBERRY,
        f"{TRANSPORT_WS}:BaseGraphQLTransportWSHandler",
        'self.handle_invalid_message("WebSocket message type must be text")',
    ),
    (
        STRAWBERRY,
        f"{TRANSPORT_WS}:BaseGraphQLTransportWSHandler",
        '"WebSocket message must be valid JSON"',
    ),
    # The wait for connection_init, cancelled there, then let go of by Trado's override.
    (
        STRAWBERRY,
        f"{TRANSPORT_WS}:BaseGraphQLTransportWSHandler",
        "self.connection_init_timeout_task.cancel()",
    ),
    (
        STRAWBERRY,
        f"{TRANSPORT_WS}:BaseGraphQLTransportWSHandler",
        "self.connection_init_received = True",
    ),
    # A streaming operation kept without its finished task: skipped where tasks are awaited.
    (
        STRAWBERRY,
        f"{TRANSPORT_WS}:BaseGraphQLTransportWSHandler",
        "[op.task for op in self.operations.values() if op.task]",
    ),
    (STRAWBERRY, f"{LEGACY_WS}:BaseGraphQLWSHandler", "self.handle_async_results("),
    (GRAPHQL_CORE, "graphql.execution.executor:Executor", "self._relevant_sub_fields"),
    (UVICORN, f"{SANS_IO}:WebSocketsSansIOProtocol", "self.handle_connect("),
    (UVICORN, f"{SANS_IO}:WebSocketsSansIOProtocol", "self.close_sent = True"),
    (UVICORN, f"{SANS_IO}:WebSocketsSansIOProtocol", "self.disconnected = True"),
    (UVICORN, f"{SANS_IO}:WebSocketsSansIOProtocol", "self.writable.clear()"),
    (UVICORN, f"{SANS_IO}:WebSocketsSansIOProtocol", "self.transport = transport"),
    (UVICORN, f"{HTTPTOOLS}:HttpToolsProtocol", "self.cycle = RequestResponseCycle("),
    (UVICORN, f"{HTTPTOOLS}:RequestResponseCycle", "self.response_started = True"),
    (UVICORN, f"{HTTPTOOLS}:RequestResponseCycle", "self.response_complete = True"),
    (UVICORN, f"{HTTPTOOLS}:RequestResponseCycle", "self.chunked_encoding = True"),
    (UVICORN, f"{HTTPTOOLS}:HttpToolsProtocol", "self.cycle.disconnected = True"),
    (UVICORN, f"{HTTPTOOLS}:RequestResponseCycle", "self.flow = flow"),
    (UVICORN, "uvicorn.protocols.http.flow_control:FlowControl", "self.write_paused = True"),
    (UVICORN, f"{HTTPTOOLS}:HttpToolsProtocol", "app_state=self.app_state"),
    (UVICORN, "uvicorn.server:Server", "connection.shutdown()"),
    (UVICORN, "uvicorn.server:ServerState", "self.connections"),
    (AIOKAFKA, "aiokafka.client:AIOKafkaClient", "self.force_metadata_update()"),
    (AIOKAFKA, "aiokafka.producer.producer:AIOKafkaProducer", "self.client = "),
    (AIOKAFKA, "aiokafka.producer.producer:AIOKafkaProducer", "self._sender = "),
    (AIOKAFKA, "aiokafka.producer.sender:Sender", "def sender_task("),
    (REDIS, "redis.asyncio.connection:AbstractConnection", "self.pack_command(*args)"),
    (REDIS, "redis.asyncio.connection:AbstractConnection", "self.pack_command(*cmd)"),
]


@pytest.mark.parametrize(
    ("library", "piece", "code"), CALLS, ids=[f"{p[1]}: {p[2]}" for p in CALLS]
)
def test_each_hook_is_still_called_by_the_library(library: str, piece: str, code: str) -> None:
    source = inspect.getsource(find(library, piece))
    assert code in source, broken(library, piece, f"no longer has `{code}`")


@strawberry.type
class ContractQuery:
    @strawberry.field
    def seen(self, info: strawberry.Info) -> str:
        _RESOLVE_INFOS.append(info)
        return "ok"


_RESOLVE_INFOS: list[Any] = []


def test_strawberry_schema_and_info_hold_graphql_cores() -> None:
    from delivery.strawberry_internals import core_schema, resolve_info

    schema = strawberry.Schema(query=ContractQuery)
    assert isinstance(core_schema(schema), GraphQLSchema), broken(
        STRAWBERRY, "Schema._schema", "is not graphql-core's schema"
    )
    _RESOLVE_INFOS.clear()
    result = schema.execute_sync("query Q { ...F } fragment F on ContractQuery { seen }")
    assert result.errors is None
    raw = resolve_info(_RESOLVE_INFOS[0])
    for name in ("field_nodes", "fragments", "operation", "schema"):
        assert hasattr(raw, name), broken(STRAWBERRY, f"Info._raw_info.{name}", "is gone")
    assert raw.field_nodes[0].name.value == "seen"
    assert set(raw.fragments) == {"F"}
    assert raw.schema is core_schema(schema)


def test_strawberry_validates_with_its_own_rules_added() -> None:
    from graphql import parse, specified_rules

    from delivery.strawberry_internals import core_schema, validate_document

    @strawberry.type
    class Query:
        seen: int = 1

    schema = core_schema(strawberry.Schema(query=Query))
    rules = tuple(specified_rules)
    assert validate_document(schema, parse("{ seen }"), rules) == [], broken(
        STRAWBERRY, "strawberry.schema.schema.validate_document", "refuses a valid document"
    )
    errors = validate_document(schema, parse("{ unseen }"), rules)
    assert [error.message for error in errors] == [
        "Cannot query field 'unseen' on type 'Query'. Did you mean 'seen'?"
    ], broken(STRAWBERRY, "strawberry.schema.schema.validate_document", "no longer validates")


def test_strawberry_keeps_the_operation_name_the_request_gave() -> None:
    from strawberry.types import ExecutionContext

    from delivery.strawberry_internals import provided_operation_name

    given = ExecutionContext(
        query="query A { seen } query B { seen }",
        schema=cast(Any, None),
        allowed_operations=(),
        provided_operation_name="B",
    )
    assert provided_operation_name(given) == "B", broken(
        STRAWBERRY, "ExecutionContext._provided_operation_name", "no longer holds the name given"
    )
    none = ExecutionContext(query="{ seen }", schema=cast(Any, None), allowed_operations=())
    assert provided_operation_name(none) is None


def test_graphql_core_per_event_executors_share_then_forget_the_sub_field_memo() -> None:
    from graphql import build_schema
    from graphql.execution import Executor

    from delivery.graphql_core_internals import fresh_sub_field_memo

    schema = build_schema("type Query { a: Int } type Subscription { tick: Int }")
    executor = Executor.build(schema, parse("subscription { tick }"))
    assert isinstance(executor, Executor)
    memo = getattr(executor, "_relevant_sub_fields", None)
    assert isinstance(memo, dict), broken(
        GRAPHQL_CORE, "Executor._relevant_sub_fields", "is gone or no longer a dict"
    )
    per_event = executor.build_per_event_executor(1)
    fresh_sub_field_memo(per_event)
    assert per_event._relevant_sub_fields == {}
    assert per_event._relevant_sub_fields is not executor._relevant_sub_fields


def test_graphql_core_collects_fields_as_it_executes_them() -> None:
    from graphql import build_schema
    from graphql.execution import Executor

    from delivery.graphql_core_internals import selected_fields

    schema = build_schema(
        "type Query { a: Int } type Subscription { tick: T! } type T { x: Int y: Int z: Int }"
    )
    document = parse(
        "subscription ($no: Boolean!) { tick { y: x ... on T { x } ...F z @include(if: $no) } }"
        " fragment F on T { y: x x }"
    )
    executor = Executor.build(schema, document, raw_variable_values={"no": False})
    assert isinstance(executor, Executor)
    assert schema.subscription_type is not None
    root = selected_fields(executor, schema.subscription_type)
    assert root is not None
    assert list(root) == ["tick"], broken(GRAPHQL_CORE, "collect_fields", "collects otherwise")
    sub = selected_fields(executor, cast(Any, schema.get_type("T")), root["tick"])
    assert sub is not None
    grouped = {key: [d.node.name.value for d in details] for key, details in sub.items()}
    assert grouped == {"y": ["x", "x"], "x": ["x", "x"]}, broken(
        GRAPHQL_CORE, "collect_subfields", f"groups {grouped}"
    )


@strawberry.type
class ContractItem:
    name: str

    @strawberry.field
    def shout(self) -> str:
        return self.name.upper()

    @strawberry.field
    def asked(self, info: strawberry.Info) -> str:
        return info.field_name


@strawberry.type
class ContractLive:
    @strawberry.subscription
    async def items(self) -> AsyncGenerator[ContractItem, None]:
        yield ContractItem(name="a")


def test_strawberry_fields_say_how_they_are_read() -> None:
    from delivery.strawberry_internals import core_schema, is_event_field, plain_reader

    strawberry_schema = strawberry.Schema(query=ContractItem, subscription=ContractLive)
    schema = core_schema(strawberry_schema)
    item = cast(Any, schema.get_type("ContractItem"))
    assert schema.subscription_type is not None
    items = schema.subscription_type.fields["items"]
    assert is_event_field(items), broken(
        STRAWBERRY, "StrawberryField.is_subscription", "is not set on a subscription"
    )
    event = ContractItem(name="e")
    assert items.resolve is not None
    assert items.resolve(event, None) is event, broken(
        STRAWBERRY, "a subscription field's resolver", "no longer resolves to the event"
    )
    resolved = strawberry_schema.execute_sync("{ name shout }", root_value=ContractItem(name="a"))
    assert resolved.data == {"name": "a", "shout": "A"}
    assert not is_event_field(item.fields["name"])
    for field, read in (("name", "a"), ("shout", "A")):
        reader = plain_reader(item.fields[field])
        assert reader is not None, broken(STRAWBERRY, f"field {field}", "is not read plainly")
        item_a = ContractItem(name="a")
        assert (getattr(item_a, reader) if isinstance(reader, str) else reader(item_a)) == read
    assert plain_reader(item.fields["asked"]) is None


def test_websockets_apply_mask_unmasks_as_rfc_6455_says() -> None:
    from delivery.websockets_internals import apply_mask

    data, mask = b"Hello, frames", b"\x01\x02\x03\x04"
    expected = bytes(byte ^ mask[i % 4] for i, byte in enumerate(data))
    assert apply_mask(data, mask) == expected, broken(
        WEBSOCKETS, "websockets.speedups.apply_mask", "does not unmask as RFC 6455 §5.3 says"
    )


async def test_uvicorn_protocols_have_the_attributes_read() -> None:
    from uvicorn.config import Config
    from uvicorn.server import ServerState

    from delivery.uvicorn_internals import DirectChunksProtocol, DirectFramesProtocol

    def app(*_: Any) -> None:  # never called: no connection is made
        return None

    config = Config(
        app=app, ws="websockets-sansio", http="httptools", interface="asgi3", log_config=None
    )
    config.load()
    for name in ("loaded_app", "ws_max_size", "ws_ping_interval", "ws_ping_timeout"):
        assert hasattr(config, name), broken(UVICORN, f"Config.{name}", "is gone")
    state = ServerState()
    assert isinstance(state.connections, set), broken(UVICORN, "ServerState.connections", "")
    frames = DirectFramesProtocol(config=config, server_state=state, app_state={})
    for name in ("transport", "close_sent", "disconnected"):
        assert hasattr(frames, name), broken(UVICORN, f"WebSocketsSansIOProtocol.{name}", "is gone")
    assert isinstance(frames.writable, asyncio.Event), broken(
        UVICORN, "WebSocketsSansIOProtocol.writable", "is no longer an asyncio.Event"
    )
    chunks = DirectChunksProtocol(config=config, server_state=state, app_state={})
    assert hasattr(chunks, "on_headers_complete")


async def test_aiokafka_producer_has_the_client_and_sender_used() -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1")  # never started
    try:
        client = getattr(producer, "client", None)
        assert callable(getattr(client, "force_metadata_update", None)), broken(
            AIOKAFKA, "AIOKafkaProducer.client.force_metadata_update", "is gone"
        )
        sender = getattr(producer, "_sender", None)
        assert hasattr(sender, "sender_task"), broken(
            AIOKAFKA, "AIOKafkaProducer._sender.sender_task", "is gone"
        )
    finally:
        await producer.stop()


def test_aiokafka_collect_hosts_reads_the_bootstrap_setting() -> None:
    from streaming.log.aiokafka_internals import bootstrap_hosts

    hosts = sorted(bootstrap_hosts("one:9092,two:9093"))
    assert hosts == [("one", 9092), ("two", 9093)], broken(
        AIOKAFKA, "aiokafka.conn.collect_hosts", f"reads the setting as {hosts}"
    )


@pytest.mark.parametrize(
    "command",
    [
        ("SET", "key", "value"),
        ("CONFIG GET", "maxmemory"),
        (b"CLIENT SETNAME", b"bench-x:cache"),
        ("EVALSHA", "0" * 40, 2, "k1", "k2", "é", b"\x00\xff", 7, -3, 10**20, 0.1, 1e100),
        ("SET", bytearray(b"key"), memoryview(b"value")),
    ],
)
def test_redis_commands_pack_to_the_same_bytes_through_hiredis(command: tuple[Any, ...]) -> None:
    from redis.asyncio.connection import Connection

    from streaming.redis_packing import HiredisConnection

    ours = b"".join(HiredisConnection().pack_command(*command))
    theirs = b"".join(Connection().pack_command(*command))
    assert ours == theirs, broken(REDIS, "Connection.pack_command", f"packs {command!r} otherwise")


def test_redis_refuses_a_value_of_the_wrong_type_as_redis_py_does() -> None:
    from redis.exceptions import DataError

    from streaming.redis_packing import HiredisConnection

    with pytest.raises(DataError):
        HiredisConnection().pack_command("SET", "key", None)
