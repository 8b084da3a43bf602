"""Watchlists, price alerts and notifications of the signed-in user."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from models.db import make_engine, make_session_factory, session_scope
from settings import Settings
from tests.api.conftest import Account, Api, Quotes
from tests.api.test_trading import place
from trading.alerts import alerts_in_ranges, trigger_alert
from trading.events import NotificationEvent

WATCHLIST = "id name items { instrument { symbol } quote { bid ask } }"
CREATE = f"mutation ($name: String!) {{ createWatchlist(name: $name) {{ {WATCHLIST} }} }}"
ADD = f"""mutation ($id: ID!, $symbol: String!) {{
  addToWatchlist(watchlistId: $id, symbol: $symbol) {{ {WATCHLIST} }} }}"""
REMOVE = ADD.replace("addToWatchlist", "removeFromWatchlist")
ALERT = """mutation ($symbol: String!, $condition: AlertCondition!, $threshold: Decimal!) {
  createPriceAlert(symbol: $symbol, condition: $condition, threshold: $threshold) {
    __typename
    ... on PriceAlert { id condition threshold active instrument { symbol } }
    ... on AlertError { code message }
  } }"""
NOTES = """query ($unread: Boolean, $first: Int, $after: String) {
  notifications(unreadOnly: $unread, first: $first, after: $after) {
    edges { node { id kind message readAt } } pageInfo { hasNextPage endCursor } } }"""


def symbols(watchlist: dict[str, Any]) -> list[str]:
    return [item["instrument"]["symbol"] for item in watchlist["items"]]


async def test_watchlist_lifecycle_with_quotes(api: Api, account: Account, quotes: Quotes) -> None:
    await quotes.set("AMZN", bid="200.10", ask="200.12")
    await quotes.clear("IBM")
    created = (await api.data(CREATE, {"name": "  Tech   picks "}, account.token))[
        "createWatchlist"
    ]
    assert (created["name"], created["items"]) == ("Tech picks", [])
    for symbol in ("amzn", "IBM", "AMZN"):  # adding twice is a no-op
        listed = await api.data(ADD, {"id": created["id"], "symbol": symbol}, account.token)
    assert symbols(listed["addToWatchlist"]) == ["AMZN", "IBM"]
    mine = await api.data(f"{{ watchlists {{ {WATCHLIST} }} }}", token=account.token)
    [only] = mine["watchlists"]
    assert [i["quote"] for i in only["items"]] == [{"bid": "200.10", "ask": "200.12"}, None]
    removed = await api.data(REMOVE, {"id": created["id"], "symbol": "AMZN"}, account.token)
    assert symbols(removed["removeFromWatchlist"]) == ["IBM"]
    renamed = await api.data(
        'mutation ($id: ID!) { renameWatchlist(id: $id, name: "Value") { name } }',
        {"id": created["id"]},
        account.token,
    )
    assert renamed["renameWatchlist"]["name"] == "Value"
    delete = "mutation ($id: ID!) { deleteWatchlist(id: $id) }"
    assert (await api.data(delete, {"id": created["id"]}, account.token))["deleteWatchlist"]
    assert not (await api.data(delete, {"id": created["id"]}, account.token))["deleteWatchlist"]
    assert (await api.data("{ watchlists { id } }", token=account.token))["watchlists"] == []


async def test_watchlist_mistakes_are_clear_errors(api: Api, account: Account) -> None:
    created = (await api.data(CREATE, {"name": "Mine"}, account.token))["createWatchlist"]
    duplicate = await api.error(CREATE, {"name": "Mine"}, account.token)
    assert duplicate["message"] == "You already have a watchlist named 'Mine'."
    assert (await api.error(CREATE, {"name": "   "}, account.token))["message"] == (
        "A watchlist needs a name."
    )
    unknown = await api.error(ADD, {"id": created["id"], "symbol": "NOPE"}, account.token)
    assert unknown["message"] == "No instrument 'NOPE'."
    bad_id = await api.error(ADD, {"id": "abc", "symbol": "IBM"}, account.token)
    assert bad_id["message"] == "'abc' is not a watchlist id"


async def test_alerts_create_list_delete(api: Api, account: Account) -> None:
    made = (
        await api.data(
            ALERT, {"symbol": "nvda", "condition": "ABOVE", "threshold": "1000.50"}, account.token
        )
    )["createPriceAlert"]
    assert made["__typename"] == "PriceAlert"
    assert (made["condition"], made["threshold"], made["active"]) == ("ABOVE", "1000.50", True)
    assert made["instrument"] == {"symbol": "NVDA"}
    listed = (await api.data("{ alerts { id threshold } }", token=account.token))["alerts"]
    assert listed == [{"id": made["id"], "threshold": "1000.50"}]
    for variables, code in (
        ({"symbol": "NOPE", "condition": "BELOW", "threshold": "10"}, "UNKNOWN_SYMBOL"),
        ({"symbol": "NVDA", "condition": "BELOW", "threshold": "-1"}, "INVALID_THRESHOLD"),
    ):
        error = (await api.data(ALERT, variables, account.token))["createPriceAlert"]
        assert error["code"] == code
    delete = "mutation ($id: ID!) { deletePriceAlert(id: $id) }"
    assert (await api.data(delete, {"id": made["id"]}, account.token))["deletePriceAlert"]
    assert (await api.data("{ alerts { id } }", token=account.token))["alerts"] == []


async def test_a_triggered_alert_notifies_once(
    api: Api, account: Account, full_settings: Settings
) -> None:
    made = (
        await api.data(
            ALERT, {"symbol": "CVX", "condition": "BELOW", "threshold": "140"}, account.token
        )
    )["createPriceAlert"]
    engine = make_engine(full_settings)
    try:
        sessions = make_session_factory(engine)
        async with sessions() as session:
            above = Decimal("140.01")
            assert await alerts_in_ranges(session, {"CVX": (above, above)}) == []
            crossing = await alerts_in_ranges(session, {"CVX": (Decimal(140), Decimal(140))})
        assert [candidate.id for candidate in crossing] == [int(made["id"])]
        async with session_scope(sessions) as session:
            first = await trigger_alert(session, int(made["id"]), Decimal("139.5"), "CVX")
        async with session_scope(sessions) as session:
            second = await trigger_alert(session, int(made["id"]), Decimal("139"), "CVX")
    finally:
        await engine.dispose()
    assert first is not None
    assert second is None
    assert isinstance(first.event, NotificationEvent)
    assert first.event.notification.message == "CVX traded at 139.5, below your alert at 140"
    alerts = await api.data("{ alerts { active triggeredPrice } }", token=account.token)
    assert alerts["alerts"] == [{"active": False, "triggeredPrice": "139.50"}]


async def test_notifications_page_unread_filter_and_mark_read(
    api: Api, account: Account, quotes: Quotes
) -> None:
    await quotes.set("DIS", bid="100.00", ask="100.01")
    for _ in range(5):
        await place(api, account.token, symbol="DIS", quantity="1")
    seen: list[str] = []
    after = None
    while True:
        page = await api.data(NOTES, {"first": 2, "after": after}, account.token)
        page = page["notifications"]
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == 5
    assert seen == sorted(seen, key=int, reverse=True)
    mark = "mutation ($ids: [ID!]) { markNotificationsRead(ids: $ids) }"
    assert (await api.data(mark, {"ids": seen[:2]}, account.token))["markNotificationsRead"] == 2
    assert (await api.data(mark, {"ids": seen[:2]}, account.token))["markNotificationsRead"] == 0
    unread = (await api.data(NOTES, {"unread": True}, account.token))["notifications"]["edges"]
    assert [e["node"]["id"] for e in unread] == seen[2:]
    assert (await api.data(mark, {}, account.token))["markNotificationsRead"] == 3
    unread = (await api.data(NOTES, {"unread": True}, account.token))["notifications"]["edges"]
    assert unread == []
