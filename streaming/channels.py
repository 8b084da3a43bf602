"""Names of cache keys and pub/sub channels, so producers and readers never disagree.

Every name is `kind:subject[:detail]`: on Redis Cluster the subject is the hash tag
(`streaming.redis_client.cluster_name`), so one symbol's keys, channels and histories share a
slot and a script may touch them together."""


def quote_key(symbol: str) -> str:
    return f"quote:{symbol}"


def trade_key(symbol: str) -> str:
    """The latest trade of a symbol (its quote may be newer: a quote or book update)."""
    return f"trade:{symbol}"


def book_key(symbol: str) -> str:
    """The latest update of a symbol's exchange book, for feeds that carry depth."""
    return f"book:{symbol}"


def quote_channel(symbol: str) -> str:
    return f"quote:{symbol}"


def is_quote_channel(channel: str) -> bool:
    return channel.startswith("quote:")


def newest_tick_key() -> str:
    """When (Unix seconds, wall clock) the quote stage last wrote a tick to the cache: how an
    API process with no quote subscriber of its own tells whether ticks still flow."""
    return "live:newest-tick"


def applied_key(symbol: str) -> str:
    """The sequence of the last tick of `symbol` that every bridge stage has applied."""
    return f"applied:{symbol}"


def candle_key(symbol: str, interval: str) -> str:
    """The forming bar of a symbol and interval (its snapshot for new subscribers)."""
    return f"candle:{symbol}:{interval}"


def candle_channel(symbol: str, interval: str) -> str:
    return f"candle:{symbol}:{interval}"


def user_channel(user_id: int) -> str:
    return f"user:{user_id}"
