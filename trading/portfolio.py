"""A user's holdings: cash free to spend, cash reserved by open orders, positions, and their
value at given prices."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from sqlmodel import col, func, select

from models.db import SessionFactory
from models.tables import Instrument, Order, OrderStatus, Position, User


@dataclass(frozen=True, slots=True)
class PositionValue:
    instrument_id: int
    symbol: str
    quantity: Decimal
    average_price: Decimal
    last_price: Decimal | None  # None until the instrument has a quote

    @property
    def cost(self) -> Decimal:
        return self.quantity * self.average_price

    @property
    def market_value(self) -> Decimal | None:
        return None if self.last_price is None else self.quantity * self.last_price

    @property
    def unrealized_pnl(self) -> Decimal | None:
        value = self.market_value
        return None if value is None else value - self.cost


@dataclass(frozen=True, slots=True)
class PortfolioValue:
    cash: Decimal  # free to spend
    reserved_cash: Decimal  # held by open BUY limit orders
    positions: list[PositionValue]

    @property
    def equity(self) -> Decimal:
        """Cash, reservations and positions at market (at cost until a position has a quote)."""
        held = sum(
            (p.market_value if p.market_value is not None else p.cost for p in self.positions),
            Decimal(0),
        )
        return self.cash + self.reserved_cash + held

    def at_prices(self, prices: Mapping[str, Decimal]) -> PortfolioValue:
        """The same holdings with each position's last price from `prices` (by symbol)."""
        positions = [
            PositionValue(
                p.instrument_id, p.symbol, p.quantity, p.average_price, prices.get(p.symbol)
            )
            for p in self.positions
        ]
        return PortfolioValue(self.cash, self.reserved_cash, positions)


async def holdings(sessions: SessionFactory, user_id: int) -> PortfolioValue:
    """Cash, reservations and positions in one snapshot, positions by symbol, not yet priced."""
    async with sessions() as session, session.begin():
        user = await session.get(User, user_id)
        assert user is not None
        reserved = (
            await session.exec(
                select(func.coalesce(func.sum(Order.reserved_cash), 0)).where(
                    Order.user_id == user_id, Order.status == OrderStatus.OPEN
                )
            )
        ).one()
        rows = (
            await session.exec(
                select(Position, Instrument.symbol)
                .join(Instrument, col(Instrument.id) == col(Position.instrument_id))
                .where(Position.user_id == user_id)
                .order_by(col(Instrument.symbol))
            )
        ).all()
        cash = user.cash
    positions = [
        PositionValue(p.instrument_id, symbol, p.quantity, p.average_price, None)
        for p, symbol in rows
    ]
    return PortfolioValue(cash, Decimal(reserved), positions)
