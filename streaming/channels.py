"""Names of cache keys and pub/sub channels, so producers and readers never disagree."""


def quote_key(symbol: str) -> str:
    return f"quote:{symbol}"


def quote_channel(symbol: str) -> str:
    return f"quote:{symbol}"


def user_channel(user_id: int) -> str:
    return f"user:{user_id}"
