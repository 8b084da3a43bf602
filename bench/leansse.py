"""A minimal GraphQL-over-SSE client on `asyncio.Protocol`, for the load client only.

Why not aiohttp: it wakes a task per line read, so at tens of thousands of events per second
the client, not the server, sets the latency (the same reason as `bench/leanws.py`). Here one
read that holds many events costs one callback: the chunked body is unwrapped and each
`data:` line handed on as it completes. It does exactly what the benchmark needs (one POST,
HTTP/1.1 chunked response, `event:`/`data:` lines) and nothing else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import cast
from urllib.parse import urlsplit

import orjson

MAX_HEAD = 16 * 1024


class LeanSSE(asyncio.Protocol):
    def __init__(self, on_data: Callable[[bytes], None]) -> None:
        loop = asyncio.get_running_loop()
        self.on_data = on_data
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self._raw = bytearray()  # bytes off the socket, still chunk-framed
        self._body = bytearray()  # unwrapped body, up to an incomplete line
        self._headers_done = False
        self.transport: asyncio.Transport | None = None

    @classmethod
    async def post(
        cls, url: str, body: Mapping[str, object], on_data: Callable[[bytes], None]
    ) -> LeanSSE:
        parts = urlsplit(url)
        loop = asyncio.get_running_loop()
        payload = orjson.dumps(body)
        _, protocol = await loop.create_connection(
            lambda: cls(on_data), parts.hostname or "127.0.0.1", parts.port or 80
        )
        head = (
            f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            "Accept: text/event-stream\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n"
        )
        assert protocol.transport is not None
        protocol.transport.write(head.encode() + payload)
        await protocol.opened
        return protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._raw += data
        if not self._headers_done and not self._read_head():
            return
        self._unchunk()
        self._emit_lines()

    def _read_head(self) -> bool:
        end = self._raw.find(b"\r\n\r\n")
        if end < 0:
            if len(self._raw) > MAX_HEAD:
                self._fail(ConnectionError("response head too long"))
            return False
        status = bytes(self._raw[: self._raw.find(b"\r\n")])
        if b" 200 " not in status:
            self._fail(ConnectionError(f"SSE subscription refused: {status!r}"))
            return False
        del self._raw[: end + 4]
        self._headers_done = True
        self.opened.set_result(None)
        return True

    def _unchunk(self) -> None:
        while True:
            size_end = self._raw.find(b"\r\n")
            if size_end < 0:
                return
            size = int(self._raw[:size_end], 16)
            if len(self._raw) < size_end + 2 + size + 2:
                return
            self._body += self._raw[size_end + 2 : size_end + 2 + size]
            del self._raw[: size_end + 2 + size + 2]

    def _emit_lines(self) -> None:
        start = 0
        while (end := self._body.find(b"\n", start)) >= 0:
            line = bytes(self._body[start:end]).rstrip(b"\r")
            if line.startswith(b"data: {"):
                self.on_data(line[6:])
            start = end + 1
        del self._body[:start]

    def _fail(self, error: Exception) -> None:
        if not self.opened.done():
            self.opened.set_exception(error)
        self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed before the response"))
        if not self.closed.done():
            self.closed.set_result(None)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
