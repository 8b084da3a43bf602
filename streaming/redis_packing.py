"""Commands packed by hiredis: the one thing Trado changes in redis-py's asyncio connection.

redis-py's synchronous connection packs commands with `hiredis.pack_command` (its
`HiredisRespSerializer`) when hiredis is installed; its asyncio connection always packs them in
Python, an argument at a time (`Connection.pack_command`, redis-py 8.1). On the bridge's publish
scripts (up to 200 publications, four arguments each, per call) and cache writes that was the
largest single cost of the process (bench/README.md, "The pipeline, twice"). `HiredisConnection`
overrides that public method, documented as packing "a series of arguments into the Redis
protocol", with what the synchronous client does; the pool takes it as its documented
`connection_class`. The bytes are the same (`tests/test_library_contracts.py` checks them
against redis-py's own packing), and `pack_commands` (pipelines) calls `pack_command` per
command, so it packs through hiredis too.

Only for plain TCP (`redis://`): a `rediss://` or `unix://` URL keeps the connection class
redis-py picks for it. A Redis Cluster client builds its nodes' connections itself (redis-py
offers no `connection_class` there), so it packs in Python still.
"""

from __future__ import annotations

from typing import Any

import hiredis
from redis.asyncio.connection import Connection
from redis.exceptions import DataError


class HiredisConnection(Connection):
    def pack_command(self, *args: Any) -> list[bytes]:
        """As redis-py's `HiredisRespSerializer.pack`: a command name with spaces in it
        ("CONFIG GET") is split into its words; a value of the wrong type is a DataError."""
        if isinstance(args[0], str):
            args = (*args[0].encode().split(), *args[1:])
        elif b" " in args[0]:
            args = (*args[0].split(), *args[1:])
        try:
            return [hiredis.pack_command(args)]
        except TypeError as error:  # hiredis refuses a bytearray
            if any(isinstance(arg, bytearray | memoryview) for arg in args):
                return [hiredis.pack_command(tuple(map(_as_bytes, args)))]
            raise DataError(str(error)) from None


def _as_bytes(arg: Any) -> Any:
    return bytes(arg) if isinstance(arg, bytearray | memoryview) else arg


def packing_options(url: str) -> dict[str, Any]:
    """The pool's options for a client of `url`: `HiredisConnection` over plain TCP, else
    none (redis-py's choice for TLS or a Unix socket)."""
    return {"connection_class": HiredisConnection} if url.startswith("redis://") else {}
