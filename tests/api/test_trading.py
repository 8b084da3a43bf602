"""Paper trading over HTTP against PostgreSQL and Redis: fills, rejections, reservations,
cancels, idempotency, the bridge's matching path, and exact money throughout."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from models.db import make_engine, make_session_factory, session_scope
from settings import Settings
from tests.api.conftest import Account, Api, Quotes
from trading.fills import NoFillReason, fill_crossing_orders, fill_order

PLACE = """mutation ($input: PlaceOrderInput!) {
  placeOrder(input: $input) {
    __typename
    ... on Order { id status side type quantity limitPrice filledQuantity averageFillPrice
                   reservedCash clientOrderId instrument { symbol } }
    ... on OrderRejected { reason message }
  }
}"""
CANCEL = """mutation ($id: ID!) {
  cancelOrder(id: $id) {
    __typename
    ... on Order { id status reservedCash }
    ... on CancelRejected { reason message }
  }
}"""
PORTFOLIO = """{ portfolio { cash reservedCash equity positions {
  instrument { symbol } quantity averagePrice lastPrice marketValue unrealizedPnl } } }"""
START = Decimal(100000)


async def place(api: Api, token: str, **fields: Any) -> dict[str, Any]:
    order = {"type": "MARKET", "side": "BUY", **fields}
    result: dict[str, Any] = (await api.data(PLACE, {"input": order}, token))["placeOrder"]
    return result


async def folio(api: Api, token: str) -> dict[str, Any]:
    result: dict[str, Any] = (await api.data(PORTFOLIO, token=token))["portfolio"]
    return result


async def test_market_buy_fills_at_the_ask_and_sell_at_the_bid(
    api: Api, account: Account, quotes: Quotes
) -> None:
    await quotes.set("MSFT", bid="400.10", ask="400.20")
    order = await place(api, account.token, symbol="msft", quantity="3")
    assert order["status"] == "FILLED"
    assert order["averageFillPrice"] == "400.20"
    assert order["filledQuantity"] == "3"
    assert order["instrument"] == {"symbol": "MSFT"}
    await quotes.set("MSFT", bid="410.00", ask="410.05", price="410.02")
    p = await folio(api, account.token)
    assert Decimal(p["cash"]) == START - Decimal("1200.6")
    assert p["positions"] == [
        {
            "instrument": {"symbol": "MSFT"},
            "quantity": "3",
            "averagePrice": "400.20",
            "lastPrice": "410.02",
            "marketValue": "1230.06",
            "unrealizedPnl": "29.46",
        }
    ]
    assert Decimal(p["equity"]) == START - Decimal("1200.6") + Decimal("1230.06")
    sold = await place(api, account.token, symbol="MSFT", side="SELL", quantity="2")
    assert (sold["status"], sold["averageFillPrice"]) == ("FILLED", "410.00")
    p = await folio(api, account.token)
    assert Decimal(p["cash"]) == START - Decimal("1200.6") + Decimal("820")
    assert p["positions"][0]["quantity"] == "1"
    await place(api, account.token, symbol="MSFT", side="SELL", quantity="1")
    assert (await folio(api, account.token))["positions"] == []


async def test_average_price_of_several_buys(api: Api, account: Account, quotes: Quotes) -> None:
    await quotes.set("KO", bid="60.00", ask="60.01")
    await place(api, account.token, symbol="KO", quantity="1")
    await quotes.set("KO", bid="61.00", ask="61.02")
    await place(api, account.token, symbol="KO", quantity="2")
    position = (await folio(api, account.token))["positions"][0]
    assert position["averagePrice"] == "60.68333333"  # (60.01 + 2 x 61.02) / 3, half-even
    assert position["quantity"] == "3"


async def test_rejections_are_typed_and_write_nothing(
    api: Api, account: Account, quotes: Quotes
) -> None:
    await quotes.set("PEP", bid="150.00", ask="150.01")
    await quotes.clear("PFE")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"symbol": "NOPE", "quantity": "1"}, "UNKNOWN_SYMBOL"),
        ({"symbol": "PEP", "quantity": "0"}, "INVALID_QUANTITY"),
        ({"symbol": "PEP", "quantity": "-2"}, "INVALID_QUANTITY"),
        ({"symbol": "PEP", "quantity": "1.5"}, "INVALID_QUANTITY"),  # lot size 1
        ({"symbol": "PEP", "quantity": "1", "type": "LIMIT"}, "INVALID_PRICE"),
        (
            {"symbol": "PEP", "quantity": "1", "type": "LIMIT", "limitPrice": "150.005"},
            "INVALID_PRICE",
        ),  # tick size 0.01
        ({"symbol": "PEP", "quantity": "1", "type": "LIMIT", "limitPrice": "0"}, "INVALID_PRICE"),
        ({"symbol": "PEP", "quantity": "1", "limitPrice": "150"}, "INVALID_PRICE"),  # MARKET
        ({"symbol": "PFE", "quantity": "1"}, "NO_MARKET_PRICE"),
        ({"symbol": "PEP", "quantity": "1000"}, "INSUFFICIENT_FUNDS"),
        ({"symbol": "PEP", "quantity": "1", "side": "SELL"}, "INSUFFICIENT_POSITION"),
        ({"symbol": "PEP", "quantity": "1", "clientOrderId": " padded"}, "INVALID_CLIENT_ORDER_ID"),
    ]
    for fields, reason in cases:
        result = await place(api, account.token, **fields)
        assert result["__typename"] == "OrderRejected", fields
        assert result["reason"] == reason, (fields, result)
        assert result["message"]
    assert (await api.data("{ orders { edges { cursor } } }", token=account.token))["orders"][
        "edges"
    ] == []
    assert Decimal((await folio(api, account.token))["cash"]) == START


async def test_a_bad_decimal_is_a_clear_error(api: Api, account: Account) -> None:
    for bad in ("NaN", "Infinity", "abc", True, "1" * 40):
        error = await api.error(
            PLACE,
            {"input": {"symbol": "PEP", "side": "BUY", "type": "MARKET", "quantity": bad}},
            account.token,
        )
        assert "quantity" in error["message"] or "Decimal" in error["message"], error


async def test_limit_buy_reserves_cash_until_cancelled(
    api: Api, account: Account, quotes: Quotes
) -> None:
    await quotes.set("NKE", bid="70.00", ask="70.02")
    order = await place(
        api, account.token, symbol="NKE", type="LIMIT", quantity="10", limitPrice="65.50"
    )
    assert (order["status"], order["reservedCash"]) == ("OPEN", "655")
    p = await folio(api, account.token)
    assert (Decimal(p["cash"]), Decimal(p["reservedCash"])) == (START - 655, Decimal(655))
    assert Decimal(p["equity"]) == START
    cancelled = (await api.data(CANCEL, {"id": order["id"]}, account.token))["cancelOrder"]
    assert cancelled == {
        "__typename": "Order",
        "id": order["id"],
        "status": "CANCELLED",
        "reservedCash": "0",
    }
    again = (await api.data(CANCEL, {"id": order["id"]}, account.token))["cancelOrder"]
    assert again["reason"] == "ORDER_NOT_OPEN"
    p = await folio(api, account.token)
    assert (Decimal(p["cash"]), Decimal(p["reservedCash"])) == (START, Decimal(0))


async def test_limit_order_already_crossed_fills_at_once_at_the_better_price(
    api: Api, account: Account, quotes: Quotes
) -> None:
    await quotes.set("ORCL", bid="180.00", ask="180.05")
    order = await place(
        api, account.token, symbol="ORCL", type="LIMIT", quantity="2", limitPrice="181.00"
    )
    assert (order["status"], order["averageFillPrice"]) == ("FILLED", "180.05")
    assert Decimal((await folio(api, account.token))["cash"]) == START - Decimal("360.1")


async def test_sell_limit_cannot_offer_more_than_is_held(
    api: Api, account: Account, quotes: Quotes
) -> None:
    await quotes.set("WMT", bid="90.00", ask="90.01")
    await place(api, account.token, symbol="WMT", quantity="5")
    resting = await place(
        api,
        account.token,
        symbol="WMT",
        side="SELL",
        type="LIMIT",
        quantity="4",
        limitPrice="99.00",
    )
    assert resting["status"] == "OPEN"
    more = await place(api, account.token, symbol="WMT", side="SELL", quantity="2")
    assert more["reason"] == "INSUFFICIENT_POSITION"  # 5 held, 4 already offered
    assert (await place(api, account.token, symbol="WMT", side="SELL", quantity="1"))[
        "status"
    ] == "FILLED"


async def test_same_client_order_id_returns_the_first_order(
    api: Api, account: Account, quotes: Quotes
) -> None:
    await quotes.set("MCD", bid="290.00", ask="290.03")
    first = await place(api, account.token, symbol="MCD", quantity="1", clientOrderId="abc-1")
    second = await place(api, account.token, symbol="MCD", quantity="7", clientOrderId="abc-1")
    assert second == first
    orders = await api.data("{ orders { edges { node { id } } } }", token=account.token)
    assert len(orders["orders"]["edges"]) == 1
    assert Decimal((await folio(api, account.token))["cash"]) == START - Decimal("290.03")


async def test_the_bridge_path_fills_resting_limit_orders_when_crossed(
    api: Api, account: Account, quotes: Quotes, full_settings: Settings
) -> None:
    await quotes.set("UNH", bid="500.00", ask="500.10")
    buy = await place(
        api, account.token, symbol="UNH", type="LIMIT", quantity="2", limitPrice="495.00"
    )
    assert buy["status"] == "OPEN"
    engine = make_engine(full_settings)
    sessions = make_session_factory(engine)
    try:
        assert (
            await fill_crossing_orders(sessions, "UNH", Decimal("495.50"), Decimal("495.60")) == []
        )
        [outcome] = await fill_crossing_orders(
            sessions, "UNH", Decimal("494.80"), Decimal("494.90")
        )
        assert outcome.filled
        assert outcome.order is not None
        assert (outcome.order.id, outcome.order.average_fill_price) == (
            int(buy["id"]),
            Decimal("494.9"),
        )
        async with session_scope(sessions) as session:  # a second fill is refused
            again = await fill_order(session, int(buy["id"]), Decimal("494.90"))
        assert again.reason == NoFillReason.NOT_OPEN
    finally:
        await engine.dispose()
    p = await folio(api, account.token)
    # 990 was reserved at the limit; the fill cost 989.8 and the 0.2 left came back.
    assert (Decimal(p["cash"]), Decimal(p["reservedCash"])) == (
        START - Decimal("989.8"),
        Decimal(0),
    )
    notes = await api.data(
        "{ notifications { edges { node { kind message orderId } } } }", token=account.token
    )
    assert notes["notifications"]["edges"][0]["node"] == {
        "kind": "ORDER_FILLED",
        "message": "Bought 2 UNH at 494.9",
        "orderId": buy["id"],
    }


async def test_orders_page_newest_first_with_a_status_filter(
    api: Api, account: Account, quotes: Quotes
) -> None:
    await quotes.set("T", bid="25.00", ask="25.01")
    ids = []
    for _ in range(5):
        order = await place(
            api, account.token, symbol="T", type="LIMIT", quantity="1", limitPrice="20.00"
        )
        ids.append(order["id"])
    await api.data(CANCEL, {"id": ids[0]}, account.token)
    query = """query ($after: String, $status: OrderStatus) {
      orders(first: 2, after: $after, status: $status) {
        edges { node { id } } pageInfo { hasNextPage endCursor } } }"""
    seen: list[str] = []
    after = None
    while True:
        page = (await api.data(query, {"after": after}, account.token))["orders"]
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == ids[::-1]
    open_only = (await api.data(query, {"status": "OPEN"}, account.token))["orders"]
    assert [e["node"]["id"] for e in open_only["edges"]] == ids[::-1][:2]
