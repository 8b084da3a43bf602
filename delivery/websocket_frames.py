"""A lean send path for live frames: uvicorn's sans-io WebSocket protocol, plus a writer that
puts whole text frames straight on the connection's transport, offered to the app as the ASGI
extension `trado.websocket.frames`.

Through ASGI, each frame costs a `send` coroutine per hop (uvicorn, Starlette's exception
wrappers, Starlette's WebSocket) and websockets' framing in Python: the benchmark's profile
put that path among the fan-out's largest costs. A server frame needs no mask, so framing is
a two-to-ten-byte header: `text_frame` writes the same bytes as websockets'
`Frame.serialize` (a test compares them) in a fraction of its time (bench/README.md,
"Figures behind design choices"). Everything else
(handshake, pings, close, reads) stays uvicorn's; frames are whole `transport.write` calls,
so they never interleave with uvicorn's own.
"""

from __future__ import annotations

import struct
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

FRAMES_EXTENSION = "trado.websocket.frames"

# RFC 6455 §5.2: a payload length below 126 fits the 7-bit length field; the codes 126 and 127
# there announce a 16-bit and a 64-bit length after it.
LENGTH_16_BIT = 126
LENGTH_64_BIT = 127
MAX_16_BIT_LENGTH = 0xFFFF
# Opcodes (RFC 6455 §5.2)
CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
FINAL = 0x80


def frame(opcode: int, payload: bytes) -> bytes:
    """One final, unmasked frame (RFC 6455 §5.2): a server's frames carry no mask."""
    size = len(payload)
    if size < LENGTH_16_BIT:
        header = bytes((FINAL | opcode, size))
    elif size <= MAX_16_BIT_LENGTH:
        header = struct.pack("!BBH", FINAL | opcode, LENGTH_16_BIT, size)
    else:
        header = struct.pack("!BBQ", FINAL | opcode, LENGTH_64_BIT, size)
    return header + payload


def text_frame(payload: bytes) -> bytes:
    """A text frame carrying `payload` (UTF-8 JSON)."""
    return frame(TEXT, payload)


def text_frames(payloads: list[bytes]) -> bytes:
    """A text frame per payload, as the bytes of one write."""
    if len(payloads) == 1:
        return frame(TEXT, payloads[0])
    return b"".join([frame(TEXT, payload) for payload in payloads])


class DirectFrames:
    """Writes text frames on one connection without going through ASGI."""

    def __init__(self, protocol: WebSocketsSansIOProtocol) -> None:
        self._protocol = protocol

    @property
    def closed(self) -> bool:
        return self._protocol.disconnected or self._protocol.close_sent

    def write(self, payloads: list[bytes]) -> bool:
        """One text frame per payload, in one `transport.write`, if the socket is open and
        its buffer is below the high-water mark; otherwise False and nothing written."""
        protocol = self._protocol
        if protocol.disconnected or protocol.close_sent or not protocol.writable.is_set():
            return False
        protocol.transport.write(text_frames(payloads))
        return True

    async def writable(self) -> None:
        """Until the buffer has room; ConnectionError once the socket is closed."""
        await self._protocol.writable.wait()
        if self.closed:
            raise ConnectionError("the WebSocket is closed")


class DirectFramesProtocol(WebSocketsSansIOProtocol):
    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope: Any = getattr(self, "scope", None)  # absent when the handshake was refused
        if scope is not None:
            scope["extensions"][FRAMES_EXTENSION] = DirectFrames(self)
