"""Client input quoted back in a message, cut short: an error names what was wrong without
returning a huge symbol to its sender (such replies grew the server's memory with each one)."""

from __future__ import annotations

ECHO_LIMIT = 40  # characters of client input a message repeats


def echo(value: object, limit: int = ECHO_LIMIT) -> str:
    """`value` as text, its first `limit` characters and its length when it is longer."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text)} characters)"
