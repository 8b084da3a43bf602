"""Container health checks, run by Docker inside the Trado image (`python -m deploy.healthcheck`).

`api`: the API answers `/healthz` on its configured port (the image's default HEALTHCHECK).
`quotes`: a quote of the reference list reached the cache recently, which proves the feed and
the bridge move ticks end to end; the bridge and feed containers serve no HTTP to ask instead.
Exit 0 when healthy, 1 with one line on stderr otherwise, as Docker expects.
"""

from __future__ import annotations

import asyncio
import sys
import urllib.request
from datetime import UTC, datetime, timedelta
from http import HTTPStatus

from models.instrument_file import read_instrument_file
from settings import Settings, load_settings
from streaming.cache import make_cache
from streaming.channels import quote_key
from streaming.tick import Tick

MAX_QUOTE_AGE = timedelta(seconds=60)


def check_api(settings: Settings) -> str | None:
    url = f"http://127.0.0.1:{settings.port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            if response.status == HTTPStatus.OK:
                return None
            return f"{url} answered {response.status}"
    except OSError as error:
        return f"{url} does not answer: {error}"


async def check_quotes(settings: Settings) -> str | None:
    symbols = [row.symbol for row in read_instrument_file(settings.instruments_file)]
    cache = make_cache(settings)
    await cache.connect()
    try:
        raw = await cache.get_many([quote_key(symbol) for symbol in symbols])
    except Exception as error:  # any backend failure is simply "unhealthy"
        return f"cache does not answer: {error}"
    finally:
        await cache.close()
    ticks = [Tick.from_json(value) for value in raw if value is not None]
    if not ticks:
        return "no quote in the cache yet"
    newest = max(tick.received_ts for tick in ticks)
    if datetime.now(UTC) - newest > MAX_QUOTE_AGE:
        return f"newest quote is from {newest.isoformat()}: ticks stopped flowing"
    return None


def main(argv: list[str]) -> int:
    settings = load_settings()
    if argv == ["api"]:
        problem = check_api(settings)
    elif argv == ["quotes"]:
        problem = asyncio.run(check_quotes(settings))
    else:
        print("usage: python -m deploy.healthcheck api|quotes", file=sys.stderr)
        return 2
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
