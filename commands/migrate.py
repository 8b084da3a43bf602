"""`python -m commands.migrate`: wait for PostgreSQL, apply migrations, load instruments.

What a deployment runs before starting the API (the template's prestart step).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from tenacity import stop_after_delay, wait_exponential

from commands.logs import configure_logging
from models.db import make_engine, make_session_factory, ping, session_scope
from models.instrument_file import read_instrument_file
from resolvers.instruments import invalidate_instruments
from settings import Settings, load_settings
from streaming.cache import make_cache
from streaming.retry import retrying
from trading.instruments import upsert_instruments

log = logging.getLogger("migrate")
ROOT = Path(__file__).resolve().parent.parent


def alembic_config(database_url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logger"] = False
    return config


def upgrade(database_url: str) -> None:
    """Alembic's env.py runs its own event loop, so this is called outside any loop."""
    command.upgrade(alembic_config(database_url), "head")


async def wait_for_database(settings: Settings) -> None:
    """Until the database answers, for up to 60 s: 1 s between tries, doubling up to 5 s."""
    wait, stop = wait_exponential(max=5), stop_after_delay(60)
    async for attempt in retrying("reaching the database", wait=wait, stop=stop):
        with attempt:
            engine = make_engine(settings)
            try:
                await ping(engine)
            finally:
                await engine.dispose()


async def load_instruments(settings: Settings) -> int:
    """Upsert the reference file, then drop those symbols from the instrument cache (Redis in
    full mode) so running API processes read the new values at once."""
    rows = read_instrument_file(settings.instruments_file)
    engine = make_engine(settings)
    try:
        async with session_scope(make_session_factory(engine)) as session:
            count = await upsert_instruments(session, rows)
    finally:
        await engine.dispose()
    if settings.redis_url:
        cache = make_cache(settings)
        await cache.connect()
        try:
            await invalidate_instruments(cache, [r.symbol for r in rows])
        finally:
            await cache.close()
    return count


def main() -> None:
    settings = load_settings()
    configure_logging(settings)
    asyncio.run(wait_for_database(settings))
    if not settings.uses_sqlite:
        upgrade(settings.database_url)
    count = asyncio.run(load_instruments(settings))
    log.info("database ready; %d instruments loaded from %s", count, settings.instruments_file)


if __name__ == "__main__":
    main()
