"""Server WebSocket frames (RFC 6455 §5.2), written by the direct send paths
(`delivery/uvicorn_internals.py`'s `DirectFrames`, `delivery/lean_websocket.py`).

A server frame needs no mask, so framing is a two-to-ten-byte header: `text_frame` writes the
same bytes as websockets' `Frame.serialize` (a test compares them) without its per-frame
Python objects.
"""

from __future__ import annotations

import struct

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
