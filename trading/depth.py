"""What a MARKET order pays when it walks the book: the depth-weighted price.

A buy takes the asks best first, a sell the bids, each level up to its size, until the
quantity is covered; past the deepest level given, the rest is taken at that deepest price
(the book shown is only its top levels). The fill price is the quantity-weighted average
of what was taken, rounded half-even to the decimals of the instrument's tick size (to the
cent for a 0.01 tick), so quantity x price stays within the stored scale like any limit
price; the cash moved is that quantity x price, within half a tick per unit of the exact
sum of the levels.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Protocol

Level = tuple[Decimal, Decimal]  # (price, size), best first


class Depth(Protocol):
    """An order book's levels, best first on each side."""

    @property
    def bids(self) -> Sequence[Level]: ...

    @property
    def asks(self) -> Sequence[Level]: ...


def depth_weighted_price(levels: Sequence[Level], quantity: Decimal, tick_size: Decimal) -> Decimal:
    """The average price `quantity` pays across `levels` (not empty), rounded as above."""
    if not levels:
        raise ValueError("no depth to walk")
    left = quantity
    total = Decimal(0)
    for price, size in levels:
        taken = min(left, size)
        total += taken * price
        left -= taken
        if left == 0:
            break
    total += left * levels[-1][0]
    exponent = tick_size.normalize().as_tuple().exponent
    places = Decimal(1).scaleb(min(int(exponent), 0))
    return (total / quantity).quantize(places, rounding=ROUND_HALF_EVEN)
