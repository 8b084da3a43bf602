"""After each phase of a fault run: what the traders' clients were told (`bench.traders.Belief`)
held against the database, and the books re-added from the fills.

Read in one snapshot (REPEATABLE READ) of the primary:
- every placement answered with an order exists once, under its `clientOrderId` and the id
  the client was told; one the client was told was rejected does not exist at all;
- every cancel answered CANCELLED (or found CANCELLED after an ORDER_NOT_OPEN) is CANCELLED;
- each order has one event per state it took (OPEN if it rested, then its final state, or its
  final state alone), its final state among them; a FILLED order one fill, one ORDER_FILLED
  notification and that notification's event; each user's events are numbered 1..N, no gap;
- cash: each account's free cash plus what its open orders reserve equals the starting cash
  plus its sells' notional minus its buys' (Trado charges no fees), to the cent and beyond
  (NUMERIC, exact); each position equals its buys' quantity less its sells'.

Problems are named by a key (`order 17 lost`), so a phase is charged only with those that
first appeared in it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import asyncpg
import orjson

from bench.traders import Belief

FINAL = ("FILLED", "CANCELLED", "REJECTED")


@dataclass
class Audit:
    """The problems found, by kind, each a set of keys."""

    orders_lost: set[str] = field(default_factory=set)
    orders_twice: set[str] = field(default_factory=set)
    cancels_lost: set[str] = field(default_factory=set)
    events_lost: set[str] = field(default_factory=set)
    events_twice: set[str] = field(default_factory=set)
    cash_off: dict[int, Decimal] = field(default_factory=dict)  # user -> books less cash
    positions_off: dict[str, Decimal] = field(default_factory=dict)
    orders: int = 0  # checked

    def new_since(self, before: Audit | None) -> dict[str, int]:
        """How many problems of each kind are new since `before` (its keys already told)."""
        kinds = ("orders_lost", "orders_twice", "cancels_lost", "events_lost", "events_twice")
        return {
            kind: len(getattr(self, kind) - (getattr(before, kind) if before else set()))
            for kind in kinds
        }

    def details(self) -> list[str]:
        named = [
            *self.orders_lost,
            *self.orders_twice,
            *self.cancels_lost,
            *self.events_lost,
            *self.events_twice,
        ]
        named += [f"user {u} cash off by {d}" for u, d in self.cash_off.items()]
        named += [f"{key} off by {d}" for key, d in self.positions_off.items()]
        return sorted(named)


@dataclass
class Snapshot:
    """The accounts' rows, read in one transaction."""

    cash: dict[int, Decimal]
    event_sequence: dict[int, int]
    orders: list[asyncpg.Record]
    fills: list[asyncpg.Record]
    positions: list[asyncpg.Record]
    events: list[asyncpg.Record]
    notifications: list[asyncpg.Record]


async def read_snapshot(dsn: str, users: list[int]) -> Snapshot:
    connection = await asyncpg.connect(dsn, timeout=30)
    try:
        async with connection.transaction(isolation="repeatable_read", readonly=True):
            rows = await connection.fetch(
                "SELECT id, cash, event_sequence FROM users WHERE id = ANY($1)", users
            )

            async def each(query: str) -> list[asyncpg.Record]:
                return list(await connection.fetch(query, users))

            return Snapshot(
                cash={r["id"]: r["cash"] for r in rows},
                event_sequence={r["id"]: r["event_sequence"] for r in rows},
                orders=await each("SELECT * FROM orders WHERE user_id = ANY($1)"),
                fills=await each("SELECT * FROM fill WHERE user_id = ANY($1)"),
                positions=await each("SELECT * FROM position WHERE user_id = ANY($1)"),
                events=await each(
                    "SELECT user_id, sequence, payload FROM user_event WHERE user_id = ANY($1)"
                ),
                notifications=await each(
                    "SELECT order_id, kind FROM notification WHERE user_id = ANY($1)"
                ),
            )
    finally:
        await connection.close()


def audit(snapshot: Snapshot, beliefs: list[Belief], starting_cash: Decimal) -> Audit:
    found = Audit(orders=len(snapshot.orders))
    _placements(found, snapshot, beliefs)
    _cancels(found, snapshot, beliefs)
    rested = {b.order_id for b in beliefs if b.kind == "place" and b.answer == "OPEN"}
    _events(found, snapshot, rested)
    _fills(found, snapshot)
    _books(found, snapshot, starting_cash)
    return found


def _placements(found: Audit, snapshot: Snapshot, beliefs: list[Belief]) -> None:
    by_client: defaultdict[tuple[int, str | None], list[asyncpg.Record]] = defaultdict(list)
    for order in snapshot.orders:
        by_client[(order["user_id"], order["client_order_id"])].append(order)
    for key, rows in by_client.items():
        if key[1] is None or len(rows) > 1:
            found.orders_twice.add(f"orders {[r['id'] for r in rows]} under client id {key[1]}")
    for belief in beliefs:
        if belief.kind != "place" or belief.answer == "gave up":
            continue
        rows = by_client.get((belief.account, belief.client_order_id), [])
        if belief.answer.startswith("rejected:") and rows:
            found.orders_twice.add(f"order {rows[0]['id']} stored though rejected")
        elif not belief.answer.startswith("rejected:") and (
            not rows or rows[0]["id"] != belief.order_id
        ):
            found.orders_lost.add(f"order {belief.order_id} ({belief.client_order_id}) lost")


def _cancels(found: Audit, snapshot: Snapshot, beliefs: list[Belief]) -> None:
    status = {order["id"]: order["status"] for order in snapshot.orders}
    for belief in beliefs:
        acknowledged = belief.answer in ("CANCELLED", "not open: CANCELLED")
        if belief.kind == "cancel" and acknowledged and status[belief.order_id] != "CANCELLED":
            found.cancels_lost.add(
                f"cancel of order {belief.order_id} lost ({status[belief.order_id]})"
            )


def _events(found: Audit, snapshot: Snapshot, rested: set[int | None]) -> None:
    numbers: defaultdict[int, Counter[int]] = defaultdict(Counter)
    states: defaultdict[int, Counter[str]] = defaultdict(Counter)
    noted: Counter[int] = Counter()  # ORDER_FILLED notification events per order
    for event in snapshot.events:
        numbers[event["user_id"]][event["sequence"]] += 1
        message: dict[str, Any] = orjson.loads(event["payload"])
        if message["type"] == "order":
            states[message["order"]["id"]][message["order"]["status"]] += 1
        elif message["notification"]["kind"] == "ORDER_FILLED":
            noted[message["notification"]["orderId"]] += 1
    _numbering(found, snapshot, numbers)
    for order in snapshot.orders:
        seen = states[order["id"]]
        for state, count in seen.items():
            if count > 1:
                found.events_twice.add(f"order {order['id']} {state} event x{count}")
        rested_unseen = order["id"] in rested and not seen["OPEN"]
        if rested_unseen or not seen[order["status"]] or set(seen) - {"OPEN", order["status"]}:
            found.events_lost.add(f"order {order['id']} {order['status']}: events {dict(seen)}")
        if order["status"] == "FILLED" and noted[order["id"]] != 1:
            found.events_lost.add(f"order {order['id']}: {noted[order['id']]} fill events")


def _numbering(found: Audit, snapshot: Snapshot, numbers: defaultdict[int, Counter[int]]) -> None:
    """Each user's events numbered 1..event_sequence, each number once."""
    for user, newest in snapshot.event_sequence.items():
        for number in range(1, newest + 1):
            if numbers[user][number] == 0:
                found.events_lost.add(f"user {user} event {number} missing")
            elif numbers[user][number] > 1:
                found.events_twice.add(f"user {user} event {number} stored twice")


def _fills(found: Audit, snapshot: Snapshot) -> None:
    fills = Counter(fill["order_id"] for fill in snapshot.fills)
    notes = Counter(n["order_id"] for n in snapshot.notifications if n["kind"] == "ORDER_FILLED")
    for order in snapshot.orders:
        expected = 1 if order["status"] == "FILLED" else 0
        for what, counted in (("fills", fills), ("fill notifications", notes)):
            if counted[order["id"]] > expected:
                found.orders_twice.add(f"order {order['id']}: {counted[order['id']]} {what}")
            elif counted[order["id"]] < expected:
                found.orders_lost.add(f"order {order['id']}: FILLED without {what}")


def _books(found: Audit, snapshot: Snapshot, starting_cash: Decimal) -> None:
    """Cash and positions re-added from the fills (exact decimals)."""
    books = dict.fromkeys(snapshot.cash, starting_cash)
    held: defaultdict[tuple[int, int], Decimal] = defaultdict(Decimal)
    for fill in snapshot.fills:
        sign = 1 if fill["side"] == "BUY" else -1
        books[fill["user_id"]] -= sign * fill["quantity"] * fill["price"]
        held[(fill["user_id"], fill["instrument_id"])] += sign * fill["quantity"]
    for order in snapshot.orders:
        if order["status"] == "OPEN":
            books[order["user_id"]] -= order["reserved_cash"]
    for user, cash in snapshot.cash.items():
        if books[user] != cash:
            found.cash_off[user] = books[user] - cash
    positions = {(p["user_id"], p["instrument_id"]): p["quantity"] for p in snapshot.positions}
    for key in held.keys() | positions.keys():
        if held.get(key, Decimal(0)) != positions.get(key, Decimal(0)):
            difference = held.get(key, Decimal(0)) - positions.get(key, Decimal(0))
            found.positions_off[f"user {key[0]} instrument {key[1]}"] = difference
