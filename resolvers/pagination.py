"""Relay-style cursor pages: opaque cursors over a stable sort key, and page-size checks."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from resolvers.numbers import whole_number

T = TypeVar("T")
DEFAULT_PAGE_SIZE = 20
MAX_CURSOR_LENGTH = 200  # far above any cursor this API writes (a symbol's is the longest)
MAX_CURSOR_KEY_DIGITS = 18  # a 64-bit row id
NOT_A_CURSOR = "`after` is not a cursor this API returned"


class BadPage(ValueError):
    """`first` or `after` cannot be served (the message says why)."""


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[tuple[str, T]]  # (cursor, item), in page order
    has_next_page: bool

    @property
    def end_cursor(self) -> str | None:
        return self.items[-1][0] if self.items else None


def page_size(first: int | None, limit: int) -> int:
    if first is None:
        return min(DEFAULT_PAGE_SIZE, limit)
    if not 1 <= first <= limit:
        raise BadPage(f"`first` must be between 1 and {limit}, got {first}")
    return first


def encode_cursor(kind: str, key: str | int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{key}".encode()).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str | None) -> str | None:
    """The key inside a cursor of this kind; None for no cursor; BadPage for a foreign one.

    Only a cursor exactly as `encode_cursor` wrote it is taken (base64 would skip stray
    characters, padding and whitespace)."""
    if cursor is None:
        return None
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise BadPage(NOT_A_CURSOR)
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadPage(NOT_A_CURSOR) from None
    prefix, sep, key = raw.partition(":")
    if prefix != kind or not sep or not key or encode_cursor(kind, key) != cursor:
        raise BadPage(NOT_A_CURSOR)
    return key


def decode_int_cursor(kind: str, cursor: str | None) -> int | None:
    key = decode_cursor(kind, cursor)
    if key is None:
        return None
    number = whole_number(key, MAX_CURSOR_KEY_DIGITS)
    if number is None:
        raise BadPage(NOT_A_CURSOR)
    return number


def make_page(rows: Sequence[T], size: int, kind: str, key: Callable[[T], str | int]) -> Page[T]:
    """`rows` were fetched with LIMIT size + 1: the extra row only tells there is a next page."""
    shown = list(rows[:size])
    return Page([(encode_cursor(kind, key(r)), r) for r in shown], len(rows) > size)
