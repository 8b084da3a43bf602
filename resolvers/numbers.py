"""Strict parsing of numbers that arrive as text (ids, cursors, decimals).

Python's own parsers are lenient on purpose: `int()` and `Decimal()` take `1_0`, `" 1 "`,
Arabic-Indic digits and superscripts as digits, and `str.isdigit()` says yes to `"²"` (which
`int()` then refuses). An API that parses that leniently accepts the same number under many
spellings and crashes on others, so every client-given number goes through here: ASCII digits
only, no separators, signs, padding or leading zeros, and a bounded length.
"""

from __future__ import annotations

import re
from decimal import Decimal

_WHOLE = re.compile(r"0|[1-9][0-9]*")
_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")


def whole_number(text: str, max_digits: int) -> int | None:
    """A non-negative whole number written canonically ("0", "42"), or None."""
    if len(text) > max_digits or not _WHOLE.fullmatch(text):
        return None
    return int(text)


def plain_decimal(text: str, max_digits: int) -> Decimal | None:
    """A decimal written as plain digits ("12.50", "-3", "0.001"), or None: one optional
    leading minus, at most one point with digits on both sides, no exponent."""
    if len(text) > max_digits + 2 or not _DECIMAL.fullmatch(text):
        return None
    if sum(c.isdigit() for c in text) > max_digits:
        return None
    return Decimal(text)
