"""Which adapter speaks to the provider PROVIDER names: one line per provider below.

Each adapter has a `from_settings(settings, symbols)`, which takes its
endpoint (PROVIDER_URL overrides it) and credentials from the settings and fails at once,
with a message naming the setting, when one is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from settings import Settings
from streaming.feeds import alpaca, binance, polygon
from streaming.feeds.finnhub import FinnhubAdapter
from streaming.feeds.market import Adapter

AdapterFactory = Callable[[Settings, Sequence[str]], Adapter]

ADAPTERS: dict[str, AdapterFactory] = {
    "finnhub": FinnhubAdapter.from_settings,
    "alpaca": alpaca.from_settings,
    "polygon": polygon.from_settings,
    "binance": binance.from_settings,
}


def make_adapter(settings: Settings, symbols: Sequence[str]) -> Adapter:
    """The adapter for `settings.provider`, subscribing `symbols`; ValueError when it cannot
    be built (a missing key, an unknown provider)."""
    factory = ADAPTERS.get(settings.provider)
    if factory is None:
        known = ", ".join(sorted(ADAPTERS))
        raise ValueError(f"PROVIDER {settings.provider!r} has no adapter here (known: {known})")
    if not symbols:
        raise ValueError("no symbols to subscribe (PROVIDER_SYMBOLS and the reference list)")
    return factory(settings, symbols)
