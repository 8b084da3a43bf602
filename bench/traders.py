"""Accounts that trade through the balancer all through a fault run, as careful clients would,
and what each believes happened (`Belief`), for `bench/ledger.py` to hold against the database.

Each account, in a loop: a LIMIT BUY near the bid (it rests, or the bridge fills it when the
price comes down to it), a MARKET BUY or SELL (filled at once), or a cancel of its oldest
resting order. Every placement carries a `clientOrderId`. A request that gets no answer (the
connection refused or cut, a timeout), a 5xx from nginx, or a SERVICE_UNAVAILABLE error is
sent again, the same, after a growing pause, for up to `GIVE_UP_SECONDS`. A cancel answered
ORDER_NOT_OPEN reads the order back: CANCELLED means an earlier attempt of the same cancel was
applied (the client counts it as acknowledged), FILLED that the bridge filled it first.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

import httpx

GIVE_UP_SECONDS = 90.0
REQUEST_SECONDS = 30.0
PAUSE_SECONDS = (0.1, 0.4)  # between one account's actions
CANCEL_AFTER_SECONDS = 1.0  # an order rests at least this long before its cancel
MAX_RESTING = 3  # orders an account leaves resting before it cancels one for sure
# An action's odds, as the upper bounds of a roll in [0, 1): a cancel (when one is due), else
# a LIMIT BUY, a MARKET BUY, and above that a MARKET SELL of what was bought.
CANCEL_BELOW, LIMIT_BELOW, MARKET_BUY_BELOW = 0.3, 0.6, 0.8
REGISTER = (
    "mutation ($e: String!, $p: String!) { register(email: $e, password: $p) { __typename "
    "... on AuthPayload { token user { id } } ... on AuthError { code message } } }"
)
PLACE = (
    "mutation ($i: PlaceOrderInput!) { placeOrder(input: $i) { __typename "
    "... on Order { id status } ... on OrderRejected { reason message } } }"
)
CANCEL = (
    "mutation ($id: ID!) { cancelOrder(id: $id) { __typename "
    "... on Order { id status } ... on CancelRejected { reason message } } }"
)
QUOTE = "query ($s: String!) { quote(symbol: $s) { bid ask } }"
ORDERS = "query { orders(first: 100) { edges { node { id status } } } }"


class GaveUp(Exception):
    """No answer within GIVE_UP_SECONDS."""


class Refused(Exception):
    """A GraphQL error that is not an outage: a bug of the client or the server."""


@dataclass
class Belief:
    """One mutation as its client saw it: `answer` is the order's status it was told
    (OPEN, FILLED, CANCELLED), `rejected:<reason>`, or `gave up`."""

    account: int  # the user's id
    kind: str  # place | cancel
    phase: str
    answer: str
    order_id: int | None = None
    client_order_id: str | None = None
    order_type: str | None = None
    side: str | None = None
    attempts: int = 1
    seconds: float = 0.0

    def to_json(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class Account:
    user_id: int
    token: str
    resting: deque[tuple[int, float]] = field(default_factory=deque)  # (order id, since)
    sellable: dict[str, int] = field(default_factory=dict)  # bought at market, not sold


class Traders:
    def __init__(self, port: int, symbols: list[str], tick_sizes: dict[str, Decimal]) -> None:
        self.http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=REQUEST_SECONDS)
        self.symbols = symbols
        self.tick_sizes = tick_sizes
        self.accounts: list[Account] = []
        self.beliefs: list[Belief] = []
        self.phase = "warm-up"
        self.retries = 0  # requests sent again, all accounts
        self._open = asyncio.Event()
        self._busy = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._numbers = iter(range(1, 10**9))
        self._run_tag = secrets.token_hex(3)

    async def register(self, count: int) -> None:
        for index in range(count):
            email = f"faults-{self._run_tag}-{index}@example.com"
            password = secrets.token_urlsafe(18) + "Aa1!"
            data, _ = await self._call(None, REGISTER, {"e": email, "p": password})
            payload = data["register"]
            if payload["__typename"] != "AuthPayload":
                raise Refused(f"register: {payload}")
            self.accounts.append(Account(int(payload["user"]["id"]), payload["token"]))

    async def run(self, seed: int) -> None:
        """Every account trading (while not paused), until cancelled."""
        await asyncio.gather(
            *(self._trade(a, random.Random(seed + i)) for i, a in enumerate(self.accounts))
        )

    def resume(self, phase: str) -> None:
        self.phase = phase
        self._open.set()

    async def pause(self) -> None:
        """No new action from now on; returns once the actions under way have ended."""
        self._open.clear()
        await self._idle.wait()

    async def close(self) -> None:
        await self.http.aclose()

    async def _trade(self, account: Account, rng: random.Random) -> None:
        while True:
            await self._open.wait()
            self._busy += 1
            self._idle.clear()
            try:
                await self._act(account, rng)
            finally:
                self._busy -= 1
                if not self._busy:
                    self._idle.set()
            await asyncio.sleep(rng.uniform(*PAUSE_SECONDS))

    async def _act(self, account: Account, rng: random.Random) -> None:
        roll = rng.random()
        due = account.resting and time.monotonic() - account.resting[0][1] > CANCEL_AFTER_SECONDS
        if due and (roll < CANCEL_BELOW or len(account.resting) >= MAX_RESTING):
            await self._cancel(account)
        elif roll < LIMIT_BELOW:
            await self._limit_buy(account, rng)
        elif roll < MARKET_BUY_BELOW or not any(account.sellable.values()):
            await self._market(account, rng.choice(self.symbols), "BUY")
        else:
            held = [s for s, n in account.sellable.items() if n > 0]
            await self._market(account, rng.choice(held), "SELL")

    async def _limit_buy(self, account: Account, rng: random.Random) -> None:
        symbol = rng.choice(self.symbols)
        try:
            data, _ = await self._call(account, QUOTE, {"s": symbol})
        except GaveUp:
            return
        if data["quote"] is None:
            return
        tick = self.tick_sizes[symbol]
        price = Decimal(data["quote"]["bid"]) - tick * rng.choice((0, 1, 2, 5))
        if price > 0:
            order = {"symbol": symbol, "side": "BUY", "type": "LIMIT", "quantity": "1"}
            await self._place(account, order | {"limitPrice": str(price)})

    async def _market(self, account: Account, symbol: str, side: str) -> None:
        if side == "SELL":
            account.sellable[symbol] -= 1
        belief = await self._place(
            account, {"symbol": symbol, "side": side, "type": "MARKET", "quantity": "1"}
        )
        if side == "BUY" and belief.answer == "FILLED":
            account.sellable[symbol] = account.sellable.get(symbol, 0) + 1
        elif side == "SELL" and belief.answer != "FILLED":
            account.sellable[symbol] += 1

    async def _place(self, account: Account, order: dict[str, str]) -> Belief:
        client_id = f"{self._run_tag}-{next(self._numbers)}"
        belief = Belief(
            account.user_id,
            "place",
            self.phase,
            "gave up",
            client_order_id=client_id,
            order_type=order["type"],
            side=order["side"],
        )
        self.beliefs.append(belief)
        started = time.monotonic()
        try:
            data, belief.attempts = await self._call(
                account, PLACE, {"i": order | {"clientOrderId": client_id}}
            )
        except GaveUp:
            belief.attempts = -1
            return belief
        finally:
            belief.seconds = round(time.monotonic() - started, 3)
        placed = data["placeOrder"]
        if placed["__typename"] == "OrderRejected":
            belief.answer = f"rejected:{placed['reason']}"
            return belief
        belief.order_id, belief.answer = int(placed["id"]), placed["status"]
        if belief.answer == "OPEN":
            account.resting.append((belief.order_id, time.monotonic()))
        return belief

    async def _cancel(self, account: Account) -> None:
        order_id, _ = account.resting.popleft()
        belief = Belief(account.user_id, "cancel", self.phase, "gave up", order_id=order_id)
        self.beliefs.append(belief)
        started = time.monotonic()
        try:
            data, belief.attempts = await self._call(account, CANCEL, {"id": str(order_id)})
            answer = data["cancelOrder"]
            if answer["__typename"] == "Order":
                belief.answer = answer["status"]
            elif answer["reason"] == "ORDER_NOT_OPEN":
                belief.answer = "not open: " + await self._status_of(account, order_id)
            else:
                belief.answer = f"rejected:{answer['reason']}"
        except GaveUp:
            belief.attempts = -1
        finally:
            belief.seconds = round(time.monotonic() - started, 3)

    async def _status_of(self, account: Account, order_id: int) -> str:
        data, _ = await self._call(account, ORDERS, {})
        for edge in data["orders"]["edges"]:
            if int(edge["node"]["id"]) == order_id:
                return str(edge["node"]["status"])
        return "not found"

    async def _call(
        self, account: Account | None, query: str, variables: dict[str, Any]
    ) -> tuple[dict[str, Any], int]:
        """The request's data and how many times it was sent: sent again after no answer,
        a 5xx or SERVICE_UNAVAILABLE, for up to GIVE_UP_SECONDS."""
        headers = {"Authorization": f"Bearer {account.token}"} if account else {}
        deadline = time.monotonic() + GIVE_UP_SECONDS
        pause = 0.2
        for attempt in range(1, 10**6):
            if attempt > 1:
                self.retries += 1
            try:
                response = await self.http.post(
                    "/graphql", json={"query": query, "variables": variables}, headers=headers
                )
                if response.status_code < 500:  # noqa: PLR2004
                    body = response.json()
                    if not body.get("errors"):
                        return body["data"], attempt
                    if not _unavailable(body["errors"]):
                        raise Refused(str(body["errors"]))
            except httpx.TransportError:
                pass  # no answer: refused, cut or timed out
            if time.monotonic() + pause > deadline:
                break
            await asyncio.sleep(pause)
            pause = min(pause * 2, 2.0)
        raise GaveUp


def _unavailable(errors: list[dict[str, Any]]) -> bool:
    return any((e.get("extensions") or {}).get("code") == "SERVICE_UNAVAILABLE" for e in errors)
