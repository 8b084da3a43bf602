"""A tick's age at each stage of the pipeline, as histograms an operator can chart
(`trado_tick_age_seconds{stage}`): on the embedded server, the simulator's ticks are observed
as the log acknowledges them, as the bridge takes and publishes them, as the API's hub hands
them on and as their frames are written."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import REGISTRY

from models.instrument_file import read_instrument_file
from settings import ROOT
from tests.conftest import make_settings
from tests.utils.graphql_ws import graphql_ws
from tests.utils.server import running_server

QUOTES = "subscription ($s: [String!]!) { quotes(symbols: $s) { symbol sequence } }"
STAGES = ("logged", "consumed", "published", "received", "written")


def observed(stage: str) -> float:
    labels = {"stage": stage}
    return REGISTRY.get_sample_value("trado_tick_age_seconds_count", labels) or 0.0


async def test_every_stage_observes_tick_ages(tmp_path: Path) -> None:
    settings = make_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'trado.db'}",
        simulator_ticks_per_second=400,
    )
    symbols = [row.symbol for row in read_instrument_file(ROOT / "data" / "instruments.csv")]
    before = {stage: observed(stage) for stage in STAGES}
    async with running_server(settings) as server, graphql_ws(server.ws) as client:
        await client.subscribe("q", QUOTES, {"s": symbols[:20]})
        await client.next_payload(30)
        for _ in range(3000):  # ~70 messages a second: TICK_AGE_SAMPLE take a fraction of one
            grown = {stage: observed(stage) - before[stage] for stage in STAGES}
            if all(count > 0 for count in grown.values()):
                break
            await client.next_payload(30)  # reading on, so the socket closes at once after
    assert all(count > 0 for count in grown.values()), grown
