"""Every SQLModel table, in one place.

Money, prices and quantities are `Exact` (NUMERIC on PostgreSQL); timestamps are UTC-aware.
Enumerations are stored as short strings so a new value needs no migration of a type.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from models.instrument_file import MAX_CURRENCY_LENGTH, MAX_SYMBOL_LENGTH
from models.types import Exact, UTCDateTime, utcnow

# Stable constraint names, so Alembic can compare and drop them.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


TOKEN_KEY_LENGTH = 32
TRACE_CONTEXT_LENGTH = 55  # a W3C traceparent: "00-" 32 hex "-" 16 hex "-" 2 hex


def new_token_key() -> str:
    return secrets.token_urlsafe(16)  # 128 random bits in 22 characters


def _exact(*, nullable: bool = False, default: Decimal | None = None) -> Decimal:
    return Field(default=default, sa_column=Column(Exact(), nullable=nullable))  # type: ignore[no-any-return]


def _time(*, nullable: bool = False, index: bool = False) -> datetime:
    return Field(  # type: ignore[no-any-return]
        default_factory=utcnow if not nullable else lambda: None,
        sa_column=Column(UTCDateTime(), nullable=nullable, index=index),
    )


def _fk(target: str, *, index: bool = True) -> int:
    return Field(  # type: ignore[no-any-return]
        sa_column=Column(ForeignKey(target, ondelete="CASCADE"), nullable=False, index=index)
    )


class OrderSide(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"


class OrderStatus(StrEnum):
    OPEN = "OPEN"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"


class AlertCondition(StrEnum):
    ABOVE = "ABOVE"
    BELOW = "BELOW"


class NotificationKind(StrEnum):
    PRICE_ALERT = "PRICE_ALERT"
    ORDER_FILLED = "ORDER_FILLED"
    ORDER_CANCELLED = "ORDER_CANCELLED"


class InstrumentFields(SQLModel):
    """What an instrument is, shared by the table and its read model
    (`trading.instruments.InstrumentRecord`)."""

    symbol: str = Field(sa_column=Column(String(MAX_SYMBOL_LENGTH), nullable=False, unique=True))
    name: str = Field(max_length=200)
    exchange: str = Field(max_length=16, index=True)
    sector: str = Field(max_length=64, index=True)
    isin: str | None = Field(default=None, max_length=12)
    currency: str = Field(max_length=MAX_CURRENCY_LENGTH)
    lot_size: Decimal = _exact()
    tick_size: Decimal = _exact()


class Instrument(InstrumentFields, table=True):
    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = _time()
    updated_at: datetime = _time()


class User(SQLModel, table=True):
    __tablename__ = "users"
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(sa_column=Column(String(254), nullable=False, unique=True))
    password_hash: str = Field(max_length=255)
    is_admin: bool = False
    cash: Decimal = _exact()
    # The sequence of this user's newest event (`UserEvent`): raised under the row's lock.
    event_sequence: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )
    # Random per account and carried in its tokens, so a token names this account and not
    # merely its id: it dies with the account even when a later one gets the same id.
    token_key: str = Field(
        default_factory=new_token_key,
        sa_column=Column(String(TOKEN_KEY_LENGTH), nullable=False),
    )
    created_at: datetime = _time()


class Watchlist(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("user_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = _fk("users.id")
    name: str = Field(max_length=100)
    created_at: datetime = _time()


class WatchlistItem(SQLModel, table=True):
    __tablename__ = "watchlist_item"
    __table_args__ = (UniqueConstraint("watchlist_id", "instrument_id"),)
    id: int | None = Field(default=None, primary_key=True)
    watchlist_id: int = _fk("watchlist.id")
    instrument_id: int = _fk("instrument.id", index=False)
    added_at: datetime = _time()


class OrderFields(SQLModel):
    """A paper order's fields, shared by the table and its read model
    (`trading.records.OrderRecord`). `reserved_cash` holds back the cash a resting BUY may
    need."""

    user_id: int = _fk("users.id")
    instrument_id: int = _fk("instrument.id", index=False)
    side: OrderSide = Field(sa_column=Column(String(8), nullable=False))
    type: OrderType = Field(sa_column=Column(String(8), nullable=False))
    status: OrderStatus = Field(sa_column=Column(String(16), nullable=False))
    quantity: Decimal = _exact()
    limit_price: Decimal | None = _exact(nullable=True)
    filled_quantity: Decimal = _exact(default=Decimal(0))
    average_fill_price: Decimal | None = _exact(nullable=True)
    reserved_cash: Decimal = _exact(default=Decimal(0))
    client_order_id: str | None = Field(default=None, max_length=64)
    reject_reason: str | None = Field(default=None, max_length=32)
    created_at: datetime = _time(index=True)
    updated_at: datetime = _time()


class Order(OrderFields, table=True):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("user_id", "client_order_id"),
        Index("ix_orders_open_by_instrument", "instrument_id", "status"),
    )
    id: int | None = Field(default=None, primary_key=True)
    # The W3C traceparent of the operation that placed it, when traced: a fill later links to it.
    trace_context: str | None = Field(default=None, max_length=TRACE_CONTEXT_LENGTH)


class Fill(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    order_id: int = _fk("orders.id")
    user_id: int = _fk("users.id")
    instrument_id: int = _fk("instrument.id", index=False)
    side: OrderSide = Field(sa_column=Column(String(8), nullable=False))
    quantity: Decimal = _exact()
    price: Decimal = _exact()
    created_at: datetime = _time()


class Position(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("user_id", "instrument_id"),)
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = _fk("users.id")
    instrument_id: int = _fk("instrument.id", index=False)
    quantity: Decimal = _exact()
    average_price: Decimal = _exact()
    updated_at: datetime = _time()


class PriceAlertFields(SQLModel):
    """Shared by the table and its read model (`trading.alerts.AlertRecord`)."""

    user_id: int = _fk("users.id")
    instrument_id: int = _fk("instrument.id", index=False)
    condition: AlertCondition = Field(sa_column=Column(String(8), nullable=False))
    threshold: Decimal = _exact()
    active: bool = True
    triggered_at: datetime | None = _time(nullable=True)
    triggered_price: Decimal | None = _exact(nullable=True)
    created_at: datetime = _time()


class PriceAlert(PriceAlertFields, table=True):
    __tablename__ = "price_alert"
    __table_args__ = (Index("ix_price_alert_active", "instrument_id", "active"),)
    id: int | None = Field(default=None, primary_key=True)
    # The W3C traceparent of the operation that set it, when traced: its firing links to it.
    trace_context: str | None = Field(default=None, max_length=TRACE_CONTEXT_LENGTH)


class NotificationFields(SQLModel):
    """Shared by the table and its read model (`trading.records.NotificationRecord`)."""

    user_id: int = _fk("users.id", index=False)
    kind: NotificationKind = Field(sa_column=Column(String(32), nullable=False))
    message: str = Field(max_length=500)
    order_id: int | None = Field(default=None, foreign_key="orders.id", ondelete="SET NULL")
    alert_id: int | None = Field(default=None, foreign_key="price_alert.id", ondelete="SET NULL")
    created_at: datetime = _time(index=True)
    read_at: datetime | None = _time(nullable=True)


class Notification(NotificationFields, table=True):
    __table_args__ = (Index("ix_notification_user_unread", "user_id", "read_at"),)
    id: int | None = Field(default=None, primary_key=True)


class Candle(SQLModel, table=True):
    """One OHLCV bar; (symbol, interval, start) is its identity, so re-writing it is an upsert."""

    symbol: str = Field(sa_column=Column(String(MAX_SYMBOL_LENGTH), primary_key=True))
    interval: str = Field(sa_column=Column(String(4), primary_key=True))
    start: datetime = Field(sa_column=Column(UTCDateTime(), primary_key=True))
    open: Decimal = _exact()
    high: Decimal = _exact()
    low: Decimal = _exact()
    close: Decimal = _exact()
    volume: Decimal = _exact()
    last_sequence: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))


class DayStatsRow(SQLModel, table=True):
    """A symbol's current-session statistics (see `trading.day_stats.DayStats`) and whether it
    is halted, as of `last_sequence`: what a bridge worker resumes from when the cache has lost
    them. Only a higher `last_sequence` replaces a stored row."""

    __tablename__ = "day_stats"

    symbol: str = Field(sa_column=Column(String(MAX_SYMBOL_LENGTH), primary_key=True))
    session: date = Field(sa_column=Column(Date(), nullable=False))
    previous_close: Decimal | None = _exact(nullable=True)
    open: Decimal = _exact()
    high: Decimal = _exact()
    low: Decimal = _exact()
    last: Decimal = _exact()
    volume: Decimal = _exact()
    turnover: Decimal = _exact()
    halted: bool = Field(default=False, sa_column=Column(Boolean(), nullable=False))
    last_sequence: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))


class UserEvent(SQLModel, table=True):
    """The transactional outbox of a user's live events (order changes, notifications): each
    row is written in the transaction of the change it reports, numbered by the user's
    `event_sequence` (so a user's events are numbered in commit order), and published after
    the commit; `published_at` stays empty until then, so a relay re-publishes what a crash
    left unpublished. `payload` is the published message, byte for byte."""

    __tablename__ = "user_event"
    __table_args__ = (
        UniqueConstraint("user_id", "sequence"),
        Index(
            "ix_user_event_unpublished",
            "id",
            postgresql_where=text("published_at IS NULL"),
            sqlite_where=text("published_at IS NULL"),
        ),
    )
    id: int | None = Field(  # SQLite numbers only an INTEGER primary key by itself
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    )
    user_id: int = _fk("users.id", index=False)
    sequence: int = Field(sa_column=Column(BigInteger, nullable=False))
    payload: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = _time()
    published_at: datetime | None = _time(nullable=True)
