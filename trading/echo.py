"""Client input quoted back in a message, cut short: an error names what was wrong without
returning a 4 MiB symbol to its sender (90 such replies grew the server by 800 MB)."""

from __future__ import annotations

ECHO_LIMIT = 40  # characters of client input a message repeats


def echo(value: object, limit: int = ECHO_LIMIT) -> str:
    """`value` as text, its first `limit` characters and its length when it is longer."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text)} characters)"
