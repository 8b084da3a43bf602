"""Every user-scoped field and mutation refuses other users' data: one test per field.

Alice owns a watchlist, an open order, a filled order (so a position and a notification) and
an alert. A new Bob for each probe, signed in, tries to read or change each of them by id
and must see nothing and change nothing; afterwards Alice's data is exactly as it was.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest

from tests.api.conftest import Account, Api, Quotes, new_account
from tests.api.test_trading import CANCEL, place


@dataclass
class Alice:
    account: Account
    watchlist: str
    open_order: str
    alert: str
    notification: str


ALICE_VIEW = """{
  watchlists { id name items { instrument { symbol } } }
  orders { edges { node { id status } } }
  portfolio { cash reservedCash positions { quantity } }
  alerts { id }
  notifications { edges { node { id readAt } } }
}"""


@pytest.fixture(scope="module")
async def alice(api: Api, quotes: Quotes) -> Alice:
    account = await new_account(api, "alice")
    await quotes.set("CSCO", bid="79.80", ask="79.85")
    token = account.token
    watchlist = await api.data('mutation { createWatchlist(name: "Mine") { id } }', token=token)
    await api.data(
        'mutation ($id: ID!) { addToWatchlist(watchlistId: $id, symbol: "CSCO") { id } }',
        {"id": watchlist["createWatchlist"]["id"]},
        token,
    )
    resting = await place(api, token, symbol="CSCO", type="LIMIT", quantity="5", limitPrice="70")
    await place(api, token, symbol="CSCO", quantity="2")
    alert = await api.data(
        'mutation { createPriceAlert(symbol: "CSCO", condition: ABOVE, threshold: "99") '
        "{ ... on PriceAlert { id } } }",
        token=token,
    )
    notes = await api.data("{ notifications { edges { node { id } } } }", token=token)
    return Alice(
        account,
        watchlist["createWatchlist"]["id"],
        resting["id"],
        alert["createPriceAlert"]["id"],
        notes["notifications"]["edges"][0]["node"]["id"],
    )


Probe = Callable[[Api, Alice, str], Awaitable[None]]


async def my_watchlists(api: Api, _alice: Alice, token: str) -> None:
    assert (await api.data("{ watchlists { id } }", token=token))["watchlists"] == []


async def my_orders(api: Api, _alice: Alice, token: str) -> None:
    orders = await api.data("{ orders { edges { node { id } } } }", token=token)
    assert orders["orders"]["edges"] == []


async def my_portfolio(api: Api, _alice: Alice, token: str) -> None:
    portfolio = (await api.data(ALICE_VIEW, token=token))["portfolio"]
    assert portfolio == {"cash": "100000", "reservedCash": "0", "positions": []}


async def my_alerts(api: Api, _alice: Alice, token: str) -> None:
    assert (await api.data("{ alerts { id } }", token=token))["alerts"] == []


async def my_notifications(api: Api, _alice: Alice, token: str) -> None:
    notes = await api.data("{ notifications { edges { node { id } } } }", token=token)
    assert notes["notifications"]["edges"] == []


async def me(api: Api, alice: Alice, token: str) -> None:
    assert (await api.data("{ me { email } }", token=token))["me"]["email"] != alice.account.email


async def rename_watchlist(api: Api, alice: Alice, token: str) -> None:
    error = await api.error(
        'mutation ($id: ID!) { renameWatchlist(id: $id, name: "Bob\'s") { id } }',
        {"id": alice.watchlist},
        token,
    )
    assert error["message"] == f"You have no watchlist {alice.watchlist}."


async def delete_watchlist(api: Api, alice: Alice, token: str) -> None:
    query = "mutation ($id: ID!) { deleteWatchlist(id: $id) }"
    assert (await api.data(query, {"id": alice.watchlist}, token))["deleteWatchlist"] is False


async def add_to_watchlist(api: Api, alice: Alice, token: str) -> None:
    query = 'mutation ($id: ID!) { addToWatchlist(watchlistId: $id, symbol: "IBM") { id } }'
    error = await api.error(query, {"id": alice.watchlist}, token)
    assert error["message"] == f"You have no watchlist {alice.watchlist}."


async def remove_from_watchlist(api: Api, alice: Alice, token: str) -> None:
    query = 'mutation ($id: ID!) { removeFromWatchlist(watchlistId: $id, symbol: "CSCO") { id } }'
    error = await api.error(query, {"id": alice.watchlist}, token)
    assert error["message"] == f"You have no watchlist {alice.watchlist}."


async def cancel_order(api: Api, alice: Alice, token: str) -> None:
    result = (await api.data(CANCEL, {"id": alice.open_order}, token))["cancelOrder"]
    assert result["reason"] == "ORDER_NOT_FOUND"


async def reuse_client_order_id(api: Api, alice: Alice, token: str) -> None:
    """Alice's clientOrderIds are hers: Bob's same id makes Bob's own order."""
    await place(
        api,
        alice.account.token,
        symbol="CSCO",
        type="LIMIT",
        quantity="1",
        limitPrice="60",
        clientOrderId="shared",
    )
    mine = await place(
        api,
        token,
        symbol="CSCO",
        type="LIMIT",
        quantity="1",
        limitPrice="61",
        clientOrderId="shared",
    )
    assert mine["limitPrice"] == "61.00"


async def delete_alert(api: Api, alice: Alice, token: str) -> None:
    query = "mutation ($id: ID!) { deletePriceAlert(id: $id) }"
    assert (await api.data(query, {"id": alice.alert}, token))["deletePriceAlert"] is False


async def mark_notifications_read(api: Api, alice: Alice, token: str) -> None:
    query = "mutation ($ids: [ID!]) { markNotificationsRead(ids: $ids) }"
    assert (await api.data(query, {"ids": [alice.notification]}, token))[
        "markNotificationsRead"
    ] == 0
    assert (await api.data(query, {}, token))["markNotificationsRead"] == 0


PROBES: list[Probe] = [
    me,
    my_watchlists,
    my_orders,
    my_portfolio,
    my_alerts,
    my_notifications,
    rename_watchlist,
    delete_watchlist,
    add_to_watchlist,
    remove_from_watchlist,
    cancel_order,
    reuse_client_order_id,
    delete_alert,
    mark_notifications_read,
]


@pytest.mark.parametrize("probe", PROBES, ids=[p.__name__ for p in PROBES])
async def test_other_users_data_is_out_of_reach(api: Api, alice: Alice, probe: Probe) -> None:
    before = await api.data(ALICE_VIEW, token=alice.account.token)
    bob = await new_account(api, "bob")
    await probe(api, alice, bob.token)
    after = await api.data(ALICE_VIEW, token=alice.account.token)
    if probe is reuse_client_order_id:  # Alice placed one more order of her own in the probe
        after["orders"]["edges"] = after["orders"]["edges"][1:]
        after["portfolio"] = before["portfolio"]
    assert after == before
