"""A private PostgreSQL cluster a test can stop and start, so the shared one is never disturbed.

PostgreSQL refuses to run as root: as root, `initdb` and `pg_ctl` run as the `postgres` user
(through `runuser`, as `scripts/services.sh` does), in a temporary directory that user owns.
The cluster trusts loopback connections (it lives for one test) and keeps its port across
restarts, so the app's pool reconnects to the same address.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg

from commands.migrate import upgrade

PG_USER = "postgres"
CONFIG = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{socket_dir}'
max_connections = 60
shared_buffers = 16MB
fsync = off
synchronous_commit = off
full_page_writes = off
"""


def postgres_bin() -> Path:
    """The newest installed server's binaries (Debian's layout)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: p.parts[-3])
    if not found:
        raise RuntimeError("PostgreSQL is not installed: run `scripts/services.sh up`")
    return found[-1].parent


def free_low_port() -> int:
    """A free port below the ephemeral range, so no client socket takes it between a stop
    and the next start."""
    for _ in range(100):
        port = random.randint(20_000, 32_000)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below 32000")


class PrivatePostgres:
    def __init__(self) -> None:
        self.bin = postgres_bin()
        self.as_root = os.geteuid() == 0
        self.root = Path(tempfile.mkdtemp(prefix="trado-pg-"))
        self.data = self.root / "data"
        self.port = free_low_port()
        user = PG_USER if self.as_root else os.environ.get("USER", "postgres")
        self.user = user
        self.url = f"postgresql+asyncpg://{user}@127.0.0.1:{self.port}/postgres"

    async def create(self) -> None:
        """initdb, start, and migrate to the project's schema."""
        if self.as_root:
            shutil.chown(self.root, PG_USER, PG_USER)
        await self._run(
            self.bin / "initdb",
            "-D",
            self.data,
            "-U",
            self.user,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
        )
        with (self.data / "postgresql.conf").open("a") as config:
            config.write(CONFIG.format(port=self.port, socket_dir=self.root))
        await self.start()
        await asyncio.to_thread(upgrade, self.url)

    async def start(self) -> None:
        """Start the cluster (nothing to do when it runs) and wait until it answers."""
        if await self.is_running():
            return
        log = self.root / "postgres.log"
        await self._run(self.bin / "pg_ctl", "start", "-D", self.data, "-l", log, "-w", "-t", "30")
        await self._wait_until_it_answers()

    async def stop(self) -> None:
        """A fast shutdown: open connections are cut, as in an outage."""
        if await self.is_running():
            await self._run(self.bin / "pg_ctl", "stop", "-D", self.data, "-m", "fast", "-w")

    async def is_running(self) -> bool:
        if not (self.data / "PG_VERSION").exists():
            return False
        return await self._run(self.bin / "pg_ctl", "status", "-D", self.data, check=False) == 0

    async def remove(self) -> None:
        await self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    async def connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(
            host="127.0.0.1", port=self.port, user=self.user, database="postgres"
        )

    async def _wait_until_it_answers(self) -> None:
        async with asyncio.timeout(30):
            while True:
                try:
                    connection = await self.connect()
                except (OSError, asyncpg.PostgresError):
                    await asyncio.sleep(0.1)
                    continue
                await connection.close()
                return

    async def _run(self, *command: str | Path, check: bool = True) -> int:
        """Run a PostgreSQL tool (as the `postgres` user when we are root); its exit code."""
        argv = [str(part) for part in command]
        if self.as_root:
            argv = ["runuser", "-u", PG_USER, "--", *argv]
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=self.root,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await process.communicate()
        code = process.returncode or 0
        if check and code != 0:
            raise RuntimeError(f"{' '.join(argv)} failed:\n{output.decode(errors='replace')}")
        return code


@asynccontextmanager
async def private_postgres() -> AsyncIterator[PrivatePostgres]:
    """A `PrivatePostgres` created for the block and removed after it."""
    server = PrivatePostgres()
    try:
        await server.create()
        yield server
    finally:
        await server.remove()
