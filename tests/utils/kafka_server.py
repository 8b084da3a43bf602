"""A private Kafka broker for the tests that stop one, so the shared broker of
`scripts/services.sh up` is never disturbed and those tests run beside the others.

It is `services.sh`'s own broker (same jars, configuration and readiness check), started with a
folder and ports of its own (`TRADO_KAFKA_DIR`, `TRADO_KAFKA_PORT`,
`TRADO_KAFKA_CONTROLLER_PORT`). Its ports lie below the ephemeral range: a client that keeps
reconnecting to a stopped broker on an ephemeral port can connect to itself and hold the port.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from settings import ROOT
from tests.utils.postgres_server import free_low_port

SERVICES = ROOT / "scripts" / "services.sh"


@dataclass(frozen=True)
class PrivateKafka:
    directory: Path
    port: int
    controller_port: int

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """What makes `services.sh kafka-stop` and `kafka-start` act on this broker."""
        return {
            "TRADO_KAFKA_DIR": str(self.directory),
            "TRADO_KAFKA_PORT": str(self.port),
            "TRADO_KAFKA_CONTROLLER_PORT": str(self.controller_port),
        }

    async def services(self, command: str) -> None:
        process = await asyncio.create_subprocess_exec(
            str(SERVICES),
            command,
            env={**os.environ, **self.env},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await process.communicate()
        assert process.returncode == 0, f"services.sh {command}: {output.decode()}"

    @asynccontextmanager
    async def stopped(self) -> AsyncIterator[None]:
        """The broker stopped for the block, and started again (waiting until it answers)."""
        await self.services("kafka-stop")
        try:
            yield
        finally:
            await self.services("kafka-start")


@asynccontextmanager
async def private_kafka(directory: Path) -> AsyncIterator[PrivateKafka]:
    """A broker of its own in `directory`, started for the block and stopped after it."""
    port = controller_port = free_low_port()
    while controller_port == port:
        controller_port = free_low_port()
    kafka = PrivateKafka(directory, port, controller_port)
    await kafka.services("kafka-start")
    try:
        yield kafka
    finally:
        await kafka.services("kafka-stop")
