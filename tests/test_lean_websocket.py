"""The lean WebSocket (`delivery/lean_websocket.py`) from outside, against a real server: a real
client library (websockets) for what clients do, raw bytes for what a library would never
send (unmasked or unknown frames, bad UTF-8, a peer that ignores pings)."""

from __future__ import annotations

import asyncio
import base64
import os
import struct
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import pytest
from prometheus_client import REGISTRY
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

from tests.conftest import embedded_mode
from tests.utils.graphql_ws import LEGACY_PROTOCOL, PROTOCOL, graphql_ws
from tests.utils.live import eventually
from tests.utils.server import RunningServer, running_server
from tests.utils.transports import shared_subscriptions

QUOTES = 'subscription { quotes(symbols: ["AAPL"]) { symbol sequence } }'
TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA
CONNECTIONS = 10


def lean_websockets() -> float:
    return REGISTRY.get_sample_value("trado_lean_websockets") or 0.0


def client_frame(opcode: int, payload: bytes, *, final: bool = True, mask: bool = True) -> bytes:
    """A client frame (RFC 6455 §5.2), masked unless told otherwise."""
    head = bytes(((0x80 if final else 0) | opcode,))
    size = len(payload)
    bit = 0x80 if mask else 0
    if size < 126:
        head += bytes((bit | size,))
    else:
        head += struct.pack("!BH", bit | 126, size)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    first, second = await reader.readexactly(2)
    size = second & 0x7F
    if size == 126:
        (size,) = struct.unpack("!H", await reader.readexactly(2))
    elif size == 127:
        (size,) = struct.unpack("!Q", await reader.readexactly(8))
    return first & 0x0F, await reader.readexactly(size)


async def next_frame(reader: asyncio.StreamReader, opcode: int) -> bytes:
    """The payload of the next frame of `opcode`, skipping the others (pings, live data)."""
    async with asyncio.timeout(10):
        while True:
            code, payload = await read_frame(reader)
            if code == opcode:
                return payload


def close_code(payload: bytes) -> int:
    return int.from_bytes(payload[:2])


@asynccontextmanager
async def raw_socket(
    url: str, *, protocol: str = PROTOCOL, key: str | None = None
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter, str]]:
    """A TCP connection that has sent the upgrade request; yields the response's head."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    key = key or base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Sec-WebSocket-Protocol: {protocol}\r\n\r\n".encode()
    )
    try:
        async with asyncio.timeout(10):
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        yield reader, writer, head
    finally:
        writer.close()


async def read_until_closed(socket: ClientConnection) -> None:
    async with asyncio.timeout(10):
        while True:
            await socket.recv()


async def close_code_received(socket: ClientConnection) -> int:
    """Read until the server closes; the code it closed with."""
    with pytest.raises(ConnectionClosed) as closed:
        await read_until_closed(socket)
    assert closed.value.rcvd is not None, "closed without a close frame"
    return closed.value.rcvd.code


async def test_a_subscription_streams_on_the_lean_socket_until_completed(
    embedded_server: RunningServer,
) -> None:
    lean, shared = lean_websockets(), shared_subscriptions()
    async with graphql_ws(embedded_server.ws) as client:
        assert lean_websockets() == lean + 1
        await client.subscribe("q", QUOTES)
        first = await client.next_payload()
        second = await client.next_payload()
        assert first["data"]["quotes"]["symbol"] == "AAPL"
        assert second["data"]["quotes"]["sequence"] > first["data"]["quotes"]["sequence"]
        assert shared_subscriptions() == shared + 1
        await client.send({"id": "q", "type": "complete"})
        await eventually(lambda: shared_subscriptions() == shared)
        await client.send({"type": "ping"})
        while (message := await client.receive())["type"] != "pong":  # no more of q's frames
            assert message.get("id") != "q" or message["type"] == "next", message
        await client.subscribe("q", QUOTES)  # the id is free again
        assert (await client.next_payload())["data"]["quotes"]["symbol"] == "AAPL"
    await eventually(lambda: lean_websockets() == lean and shared_subscriptions() == shared)


async def subscribed(url: str, stack: AsyncExitStack) -> None:
    """A raw connection (no client library, so no task of its own) that receives quotes."""
    reader, writer, head = await stack.enter_async_context(raw_socket(url))
    assert head.startswith("HTTP/1.1 101"), head
    writer.write(client_frame(TEXT, b'{"type":"connection_init"}'))
    assert orjson.loads(await next_frame(reader, TEXT)) == {"type": "connection_ack"}
    subscribe = {"id": "q", "type": "subscribe", "payload": {"query": QUOTES}}
    writer.write(client_frame(TEXT, orjson.dumps(subscribe)))
    assert orjson.loads(await next_frame(reader, TEXT))["type"] == "next"


async def test_a_streaming_connection_keeps_no_task(embedded_server: RunningServer) -> None:
    """Each message is handed to the handler as it comes, and a streaming operation's task
    ends: the connections of a subscribe storm leave no task behind each."""
    async with AsyncExitStack() as stack:
        await subscribed(embedded_server.ws, stack)  # the hub's listener and the like started
        before = len(asyncio.all_tasks())
        for _ in range(CONNECTIONS):
            await subscribed(embedded_server.ws, stack)
        await eventually(lambda: len(asyncio.all_tasks()) <= before + 2)


async def test_a_reused_operation_id_still_closes_with_4409(embedded_server: RunningServer) -> None:
    async with graphql_ws(embedded_server.ws) as client:
        await client.subscribe("q", QUOTES)
        await client.next_payload()
        await client.subscribe("q", QUOTES)
        assert await close_code_received(client.socket) == 4409


async def test_browsers_and_the_legacy_protocol_take_the_asgi_path(
    embedded_server: RunningServer,
) -> None:
    lean = lean_websockets()
    origin = Origin(embedded_server.http)
    async with connect(embedded_server.ws, subprotocols=[PROTOCOL], origin=origin) as socket:  # type: ignore[list-item]
        await socket.send('{"type":"connection_init"}')
        assert orjson.loads(await socket.recv())["type"] == "connection_ack"
        assert lean_websockets() == lean
    async with connect(embedded_server.ws, subprotocols=[LEGACY_PROTOCOL]) as socket:  # type: ignore[list-item]
        await socket.send('{"type":"connection_init"}')
        assert orjson.loads(await socket.recv())["type"] == "connection_ack"
        assert lean_websockets() == lean


async def test_a_fragmented_message_and_a_ping_are_understood(
    embedded_server: RunningServer,
) -> None:
    async with raw_socket(embedded_server.ws) as (reader, writer, head):
        assert head.startswith("HTTP/1.1 101"), head
        assert f"Sec-WebSocket-Protocol: {PROTOCOL}" in head
        writer.write(client_frame(TEXT, b'{"type":"connec', final=False))
        writer.write(client_frame(0x0, b'tion_init"}'))
        assert orjson.loads(await next_frame(reader, TEXT)) == {"type": "connection_ack"}
        writer.write(client_frame(PING, b"are you there"))
        assert await next_frame(reader, PONG) == b"are you there"
        writer.write(client_frame(CLOSE, (1000).to_bytes(2)))
        assert close_code(await next_frame(reader, CLOSE)) == 1000


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (client_frame(TEXT, b'{"type":"ping"}', mask=False), 1002),
        (client_frame(0x3, b"x"), 1002),
        (client_frame(TEXT, b'{"type":"\xff"}'), 1007),
        (client_frame(BINARY, b'{"type":"ping"}'), 4400),
        (client_frame(TEXT, b"not json"), 4400),
        (client_frame(0x0, b"a continuation of nothing"), 1002),
        (client_frame(CLOSE, b"\x03"), 1002),
        (client_frame(CLOSE, (1005).to_bytes(2)), 1002),
        (client_frame(CLOSE, (2999).to_bytes(2)), 1002),
        (client_frame(CLOSE, (1000).to_bytes(2) + b"\xff"), 1007),
    ],
    ids=[
        "unmasked",
        "unknown-opcode",
        "bad-utf8",
        "binary",
        "not-json",
        "lone-continuation",
        "close-of-one-byte",
        "close-with-reserved-code",
        "close-with-unassigned-code",
        "close-reason-not-utf8",
    ],
)
async def test_a_frame_a_client_must_not_send_closes_the_socket(
    embedded_server: RunningServer, frame: bytes, code: int
) -> None:
    async with raw_socket(embedded_server.ws) as (reader, writer, head):
        assert head.startswith("HTTP/1.1 101"), head
        writer.write(frame)
        assert close_code(await next_frame(reader, CLOSE)) == code


@pytest.mark.parametrize(
    ("payload", "code"),
    [((4000).to_bytes(2) + b"bye", 4000), ((1001).to_bytes(2), 1001), (b"", 1000)],
    ids=["application-code", "going-away", "no-code"],
)
async def test_a_clients_close_is_answered_with_its_code(
    embedded_server: RunningServer, payload: bytes, code: int
) -> None:
    async with raw_socket(embedded_server.ws) as (reader, writer, head):
        assert head.startswith("HTTP/1.1 101"), head
        writer.write(client_frame(CLOSE, payload))
        assert close_code(await next_frame(reader, CLOSE)) == code


async def test_a_bad_handshake_key_is_refused(embedded_server: RunningServer) -> None:
    async with raw_socket(embedded_server.ws, key="not base64!") as (_reader, _writer, head):
        assert head.startswith("HTTP/1.1 400"), head


async def test_a_peer_that_ignores_pings_is_closed(tmp_path: Path) -> None:
    settings = embedded_mode(
        tmp_path, websocket_ping_interval_seconds=0.2, websocket_ping_timeout_seconds=0.2
    )
    async with (
        running_server(settings) as server,
        raw_socket(server.ws) as (reader, _writer, head),
    ):
        assert head.startswith("HTTP/1.1 101"), head
        await next_frame(reader, PING)  # and no pong
        assert close_code(await next_frame(reader, CLOSE)) == 1011


async def test_a_stopping_server_closes_its_sockets_with_1012(tmp_path: Path) -> None:
    async with running_server(embedded_mode(tmp_path)) as server:
        socket = await connect(server.ws, subprotocols=[PROTOCOL])  # type: ignore[list-item]
        await socket.send('{"type":"connection_init"}')
        assert orjson.loads(await socket.recv())["type"] == "connection_ack"
    assert await close_code_received(socket) == 1012
