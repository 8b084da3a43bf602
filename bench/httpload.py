"""One HTTP load-generator process: `concurrency` loops on keep-alive connections (aiohttp,
uvloop), each sending the same request as soon as the previous answer is read.

    python -m bench.httpload --url http://127.0.0.1:9000/graphql --body '{"query": ...}' \
        --concurrency 8 --start 1700000000.5 --end 1700000005.5

Without `--body` it sends GETs. It starts at once (the time until `--start` is warm-up), counts
only answers that arrive inside [start, end), stops at `end` and prints one JSON line:
requests, errors (a status other than 200, or a GraphQL `errors` key), a latency histogram
(send to full body read, µs) and its own CPU seconds over the window.
"""

from __future__ import annotations

import asyncio
import sys
import time
from http import HTTPStatus
from typing import Annotated

import aiohttp
import orjson
import typer

from bench.histogram import Histogram
from bench.loadclient import run_on_fastest_loop


async def _loop(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes | None,
    *,
    end: float,
    start: float,
    figures: dict[str, object],
    histogram: Histogram,
) -> None:
    headers = {"content-type": "application/json"}
    while (sent := time.time()) < end:
        try:
            if body is None:
                async with session.get(url) as response:
                    data = await response.read()
            else:
                async with session.post(url, data=body, headers=headers) as response:
                    data = await response.read()
            ok = response.status == HTTPStatus.OK and b'"errors"' not in data
            problem = None if ok else f"{response.status}: {data[:200]!r}"
        except aiohttp.ClientError as error:
            problem = repr(error)
        now = time.time()
        if start <= now < end:
            if problem is None:
                histogram.record(int((now - sent) * 1_000_000))
            else:
                figures["errors"] = int(str(figures["errors"])) + 1
                figures["first_error"] = figures["first_error"] or problem


async def run(url: str, body: bytes | None, concurrency: int, start: float, end: float) -> None:
    histogram = Histogram()
    figures: dict[str, object] = {"errors": 0, "first_error": None}
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        loops = [
            asyncio.create_task(
                _loop(
                    session, url, body, end=end, start=start, figures=figures, histogram=histogram
                )
            )
            for _ in range(concurrency)
        ]
        await asyncio.sleep(max(start - time.time(), 0))
        cpu_at_start = time.process_time()
        await asyncio.gather(*loops)
        cpu = time.process_time() - cpu_at_start
    report = {
        **figures,
        "requests": histogram.total,
        "cpu_seconds": cpu,
        "histogram": histogram.to_json(),
    }
    sys.stdout.write(orjson.dumps(report).decode() + "\n")
    sys.stdout.flush()


def main(
    url: Annotated[str, typer.Option()],
    concurrency: Annotated[int, typer.Option(min=1)],
    start: Annotated[float, typer.Option(help="Window start, epoch seconds.")],
    end: Annotated[float, typer.Option(help="Window end, epoch seconds.")],
    body: Annotated[str | None, typer.Option(help="JSON to POST (default: GET).")] = None,
) -> None:
    run_on_fastest_loop(
        run(url, body.encode() if body is not None else None, concurrency, start, end)
    )


if __name__ == "__main__":
    typer.run(main)
