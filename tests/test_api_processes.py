"""`API_PROCESSES`: several API processes on one port in full mode (the refusal in embedded
mode is in test_settings.py). Real PostgreSQL, Redis and Kafka: the simulator feed as its own
process, a bridge worker, and `python server.py` with two workers."""

from __future__ import annotations

import asyncio
import os
import signal
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from settings import Settings
from tests.conftest import make_settings
from tests.utils.feed_process import feed_process, write_instruments
from tests.utils.graphql_ws import GraphQLWS, graphql_ws
from tests.utils.live import bridge_worker, isolated, listed, symbol_for
from tests.utils.redis_server import free_port
from tests.utils.trado_processes import SECRET, trado_process
from tests.utils.trado_processes import api_environment as trado_api_environment

PROCESSES = 2
CLIENTS = 24  # connected at once: the kernel hands them to both workers
QUOTES = "subscription Q($symbols: [String!]!) { quotes(symbols: $symbols) { symbol sequence } }"


async def per_process(port: int, name: str) -> dict[str, float]:
    """A gauge's value per worker pid, from one scrape (whichever worker answers it)."""
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    return {
        sample.labels["pid"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


async def live_sequences(client: GraphQLWS, symbol: str) -> list[int]:
    """The snapshot's sequence, then two live ticks' sequences."""
    await client.subscribe("q", QUOTES, {"symbols": [symbol]})
    return [(await client.next_payload(30))["data"]["quotes"]["sequence"] for _ in range(3)]


def api_environment(settings: Settings, instruments: Path, port: int) -> dict[str, str]:
    return trado_api_environment(
        settings,
        port,
        INSTRUMENTS_FILE=str(instruments),
        API_PROCESSES=str(PROCESSES),
        METRICS_ENDPOINT="true",
    )


async def test_two_api_processes_share_the_clients_and_stop_together(
    full_settings: Settings, tmp_path: Path
) -> None:
    settings = isolated(full_settings)
    symbols = [symbol_for("RP") for _ in range(4)]
    await listed(settings, *symbols)
    instruments = write_instruments(tmp_path / "instruments.csv", dict.fromkeys(symbols, "100"))
    port = free_port()
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(bridge_worker(settings))
        await stack.enter_async_context(feed_process(settings, instruments, rate=40))
        api = await stack.enter_async_context(
            trado_process(
                ["server.py"],
                api_environment(settings, instruments, port),
                f"http://127.0.0.1:{port}/readyz",
            )
        )
        url = f"ws://127.0.0.1:{port}/graphql"
        clients = await asyncio.gather(
            *(stack.enter_async_context(graphql_ws(url)) for _ in range(CLIENTS))
        )
        sequences = await asyncio.gather(
            *(live_sequences(c, symbols[i % len(symbols)]) for i, c in enumerate(clients))
        )
        connections = await per_process(port, "trado_lean_websockets")
        first, second = (int(pid) for pid in connections)
        os.kill(first, signal.SIGKILL)  # a worker lost: the command stops, for a restart
        assert await asyncio.wait_for(api.wait(), 60) == 128 + signal.SIGKILL
        assert not psutil.pid_exists(second)

    for snapshot, *live in sequences:
        assert snapshot < live[0] < live[1]  # past the snapshot: ticks as they happen
    assert len(connections) == PROCESSES, connections
    assert all(count > 0 for count in connections.values()), connections
    assert sum(connections.values()) == CLIENTS


def test_several_api_processes_need_one_signing_secret() -> None:
    full = {
        "database_url": "postgresql+asyncpg://trado:secret@127.0.0.1:5432/trado",
        "redis_url": "redis://127.0.0.1:6379/0",
        "kafka_bootstrap_servers": "127.0.0.1:9092",
    }
    with pytest.raises(ValidationError, match="API_PROCESSES > 1 needs JWT_SECRET"):
        make_settings(**full, api_processes=2)
    assert make_settings(**full, api_processes=2, jwt_secret=SECRET).api_processes == 2
