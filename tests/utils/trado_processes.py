"""The API (`server.py`) and the bridge (`python -m commands.bridge`) as processes of their
own, on a test's isolated settings passed as environment variables: for tests about what
crosses a process boundary (balancers, several workers, traces)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from settings import ROOT, Settings
from tests.utils.feed_process import feed_environment

START_SECONDS = 180  # importing the app on a busy 2-core machine
SECRET = "a secret shared by every API process, 32+ chars"


def api_environment(settings: Settings, port: int, **values: str) -> dict[str, str]:
    """The settings' backends and names, an API on 127.0.0.1:`port`, and `values` (setting
    names in upper case) on top."""
    instruments = ROOT / "data" / "instruments.csv"
    return feed_environment(settings, instruments, rate=1) | {
        "JWT_SECRET": SECRET,
        "RUN_FEED_IN_PROCESS": "false",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "KAFKA_BRIDGE_GROUP": settings.kafka_bridge_group,
        "LOGIN_ATTEMPTS_PER_ADDRESS": str(settings.login_attempts_per_address),
        "REGISTRATIONS_PER_ADDRESS": str(settings.registrations_per_address),
        "LOG_LEVEL": "WARNING",
        **values,
    }


@asynccontextmanager
async def trado_process(
    command: list[str], env: dict[str, str], ready_url: str, output: Path | None = None
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`command` (a Python module or script of the repository), until `ready_url` answers
    200; SIGTERM after the block. Its output goes to `output` when given."""
    sink = output.open("ab") if output is not None else None
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *command,
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=sink,
        stderr=sink,
    )
    try:
        await until_ready(process, ready_url, output)
        yield process
    finally:
        await stop(process)
        if sink is not None:
            sink.close()


async def until_ready(
    process: asyncio.subprocess.Process, url: str, output: Path | None = None
) -> None:
    async with httpx.AsyncClient() as client, asyncio.timeout(START_SECONDS):
        while True:
            assert process.returncode is None, (
                f"{url}: the process exited with {process.returncode}\n{tail_of(output)}"
            )
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass  # not listening yet
            await asyncio.sleep(0.3)


async def stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.terminate()
        await asyncio.wait_for(process.wait(), 60)


def tail_of(output: Path | None) -> str:
    """The end of what a command printed, for a failure's message."""
    return output.read_text(errors="replace")[-3000:] if output and output.exists() else ""
