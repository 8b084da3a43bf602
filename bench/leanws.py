"""A minimal WebSocket client on `asyncio.Protocol`, for the load client only.

Why not just aiohttp or websockets: both wake a task per message, and at 100,000 messages/s
that per-message hop is most of the client's CPU. Here frames are parsed inside
`data_received`, so one read that holds many frames costs one callback. It does exactly what a
benchmark client needs (RFC 6455 client handshake, unmasked server frames, masked client text,
ping/pong, close, continuation frames) and nothing else: no TLS, no extensions.
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Callable
from typing import cast
from urllib.parse import urlsplit

from delivery.websocket_frames import LENGTH_16_BIT, LENGTH_64_BIT, MAX_16_BIT_LENGTH

TEXT, BINARY, CONTINUATION, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA
MAX_HEAD = 16 * 1024
# Header bytes before a server frame's payload (no mask): by the 7-bit length field's code.
SHORT_HEADER, HEADER_16_BIT, HEADER_64_BIT = 2, 4, 10


class HandshakeFailed(ConnectionError):
    pass


class LeanSocket(asyncio.Protocol):
    def __init__(self, on_text: Callable[[bytes], None]) -> None:
        loop = asyncio.get_running_loop()
        self.on_text = on_text
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._upgraded = False
        self._fragments = bytearray()

    @classmethod
    async def connect(cls, url: str, protocol: str, on_text: Callable[[bytes], None]) -> LeanSocket:
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        loop = asyncio.get_running_loop()
        _, socket = await loop.create_connection(lambda: cls(on_text), host, port)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Protocol: {protocol}\r\n\r\n"
        )
        assert socket.transport is not None
        socket.transport.write(request.encode())
        await socket.opened
        return socket

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        error = exc or ConnectionError("connection closed")
        if not self.opened.done():
            self.opened.set_exception(error)
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if not self._upgraded and not self._upgrade():
            return
        self._frames()

    def _upgrade(self) -> bool:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buffer) > MAX_HEAD:
                self._fail(HandshakeFailed("no end to the upgrade response"))
            return False
        head = bytes(self._buffer[:end]).decode("latin-1")
        del self._buffer[: end + 4]
        if not head.startswith("HTTP/1.1 101"):
            self._fail(HandshakeFailed(head.split("\r\n", 1)[0]))
            return False
        self._upgraded = True
        if not self.opened.done():  # (the caller may have given up waiting)
            self.opened.set_result(None)
        return True

    def _fail(self, error: Exception) -> None:
        if not self.opened.done():
            self.opened.set_exception(error)
        if self.transport is not None:
            self.transport.close()

    def _frames(self) -> None:
        buffer, position, size = self._buffer, 0, len(self._buffer)
        while size - position >= SHORT_HEADER:
            first, second = buffer[position], buffer[position + 1]
            length, header = second & 0x7F, SHORT_HEADER
            if length == LENGTH_16_BIT:
                header = HEADER_16_BIT
            elif length == LENGTH_64_BIT:
                header = HEADER_64_BIT
            if size - position < header:
                break
            if header > SHORT_HEADER:
                length = int.from_bytes(buffer[position + SHORT_HEADER : position + header])
            if second & 0x80:  # servers never mask (RFC 6455 5.1)
                self._fail(ConnectionError("masked frame from the server"))
                return
            end = position + header + length
            if end > size:
                break
            self._frame(first, bytes(buffer[position + header : end]))
            position = end
        del buffer[:position]

    def _frame(self, first: int, payload: bytes) -> None:
        opcode, final = first & 0x0F, first & 0x80
        if opcode in (TEXT, BINARY, CONTINUATION):
            if final and not self._fragments:
                self.on_text(payload)
            elif final:
                self.on_text(bytes(self._fragments) + payload)
                self._fragments.clear()
            else:
                self._fragments += payload
        elif opcode == PING:
            self._send(PONG, payload)
        elif opcode == CLOSE:
            self._send(CLOSE, payload[:2])
            if self.transport is not None:
                self.transport.close()

    def send_text(self, text: str) -> None:
        self._send(TEXT, text.encode())

    def _send(self, opcode: int, payload: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        length = len(payload)
        if length < LENGTH_16_BIT:
            head = bytes((0x80 | opcode, 0x80 | length))
        elif length <= MAX_16_BIT_LENGTH:
            head = bytes((0x80 | opcode, 0x80 | LENGTH_16_BIT)) + length.to_bytes(2)
        else:
            head = bytes((0x80 | opcode, 0x80 | LENGTH_64_BIT)) + length.to_bytes(8)
        mask = os.urandom(4)
        masked = bytes(byte ^ mask[i & 3] for i, byte in enumerate(payload))  # few, small
        self.transport.write(head + mask + masked)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self._send(CLOSE, (1000).to_bytes(2))
            self.transport.close()
