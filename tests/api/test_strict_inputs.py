"""Strict inputs (#14), over HTTP against PostgreSQL: an email address has one form (NFKC,
trimmed, lower-case, ASCII), so look-alikes are the same account or refused; common passwords
are refused; numbers, ids and cursors parse only in their one plain spelling, and everything
else is a clear BAD_USER_INPUT, never "Unexpected error."."""

from __future__ import annotations

import json
import secrets
from typing import Any, NamedTuple

import pytest

from resolvers.pagination import encode_cursor
from tests.api.conftest import PASSWORD, REGISTER, Account, Api, Quotes
from tests.api.test_auth import LOGIN
from tests.api.test_trading import CANCEL, PLACE
from tests.test_ws_operation_errors import CLIENTS, Client, error_for
from tests.utils.graphql_ws import graphql_ws
from tests.utils.server import RunningServer

BAD_NUMBERS: list[Any] = ["1_0", "١", " 1 ", "1 ", "²", "1e3", "+1", ".5", "5.", "007", 1.5, ""]
BAD_IDS: list[Any] = ["²", "١", " 1", "1 ", "01", "1_0", "+1", "-1", "9" * 40, "1e3", ""]


def assert_bad_input(error: dict[str, Any]) -> None:
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert "Unexpected" not in error["message"]


def fullwidth(text: str) -> str:
    """ASCII letters, digits and punctuation as their fullwidth forms (U+FF01..U+FF5E)."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


async def test_an_email_in_other_spellings_is_the_same_account(api: Api, account: Account) -> None:
    for spelling in (fullwidth(account.email), f"  {account.email.upper()}\t"):
        again = (await api.data(REGISTER, {"email": spelling, "password": PASSWORD}))["register"]
        assert again["code"] == "EMAIL_TAKEN", spelling
        login = (await api.data(LOGIN, {"email": spelling, "password": PASSWORD}))["login"]
        assert login["user"] == {"id": account.id, "email": account.email}, spelling


@pytest.mark.parametrize(
    "email",
    [
        "\u0430lice@example.com",  # Cyrillic a
        "alice@ex\u0430mple.com",  # Cyrillic a in the domain
        "alice@b\u00fccher.de",  # a Unicode domain: its xn-- form is the one accepted
        "al\u200bice@example.com",  # zero-width space
        "\u202ealice@example.com",  # right-to-left override
        "ali ce@example.com",
        "alice@example",
        "x" * 250 + "@example.com",
    ],
)
async def test_look_alike_and_invisible_emails_are_refused(api: Api, email: str) -> None:
    registered = (await api.data(REGISTER, {"email": email, "password": PASSWORD}))["register"]
    assert registered["code"] == "INVALID_EMAIL", registered
    login = (await api.data(LOGIN, {"email": email, "password": PASSWORD}))["login"]
    assert login["code"] == "INVALID_CREDENTIALS", login


async def test_an_internationalised_domain_registers_in_its_ascii_form(api: Api) -> None:
    email = f"Kim-{secrets.token_hex(4)}@XN--BCHER-KVA.de"
    registered = (await api.data(REGISTER, {"email": email, "password": PASSWORD}))["register"]
    assert registered["user"]["email"] == email.lower()


@pytest.mark.parametrize("password", ["password123", "PassWord123", "qwerty12345", "1qaz2wsx3edc"])
async def test_common_passwords_are_refused(api: Api, password: str) -> None:
    email = f"common-{secrets.token_hex(4)}@example.com"
    registered = (await api.data(REGISTER, {"email": email, "password": password}))["register"]
    assert registered == {
        "__typename": "AuthError",
        "code": "WEAK_PASSWORD",
        "message": "That password is one of the most common ones: choose another.",
    }


@pytest.mark.parametrize("quantity", BAD_NUMBERS)
async def test_a_quantity_in_any_but_plain_digits_is_refused(
    api: Api, account: Account, quotes: Quotes, quantity: Any
) -> None:
    await quotes.set("PEP", bid="150.00", ask="150.02")
    order = {"symbol": "PEP", "side": "BUY", "type": "MARKET", "quantity": quantity}
    error = await api.error(PLACE, {"input": order}, account.token)
    assert_bad_input(error)
    assert "Decimal" in error["message"]
    orders = await api.data("{ orders { edges { cursor } } }", token=account.token)
    assert orders["orders"]["edges"] == []


async def test_a_decimal_literal_keeps_its_digits_and_refuses_other_spellings(
    api: Api, account: Account
) -> None:
    alert = (
        'mutation {{ createPriceAlert(symbol: "NVDA", condition: ABOVE, threshold: {}) '
        "{{ ... on PriceAlert {{ threshold }} ... on AlertError {{ message }} }} }}"
    )
    made = await api.data(alert.format("1000.12345678"), token=account.token)
    assert made["createPriceAlert"] == {"threshold": "1000.12345678"}  # from its source text
    for literal in ('"1_0"', '" 1"', "1e3", '"١"'):
        assert_bad_input(await api.error(alert.format(literal), token=account.token))


@pytest.mark.parametrize("bad", BAD_IDS)
async def test_an_id_in_any_but_plain_digits_is_refused(
    api: Api, account: Account, bad: str
) -> None:
    for query, variables in (
        (CANCEL, {"id": bad}),
        ("mutation ($id: ID!) { deleteWatchlist(id: $id) }", {"id": bad}),
        ("mutation ($id: ID!) { deletePriceAlert(id: $id) }", {"id": bad}),
        ("mutation ($ids: [ID!]) { markNotificationsRead(ids: $ids) }", {"ids": ["1", bad]}),
    ):
        error = await api.error(query, variables, account.token)
        assert_bad_input(error)
        assert " id" in error["message"]


@pytest.mark.parametrize(
    ("field", "cursor"),
    [
        ("orders", encode_cursor("order", "9" * 40)),  # OverflowError in the driver before
        ("orders", encode_cursor("order", "²")),
        ("orders", encode_cursor("order", "01")),
        ("orders", encode_cursor("order", 5) + "="),  # padding base64 would skip
        ("orders", " " + encode_cursor("order", 5)),
        ("notifications", encode_cursor("notification", "9" * 40)),
        ("notifications", encode_cursor("notification", "١")),
        ("instruments", encode_cursor("instrument", "AAPL\x00")),  # NUL: PostgreSQL refuses it
        ("instruments", encode_cursor("instrument", "x" * 100)),
        ("instruments", "A" * 500),  # longer than any cursor, within MAX_STRING_LENGTH
    ],
)
async def test_a_cursor_not_written_by_the_api_is_refused(
    api: Api, account: Account, field: str, cursor: str
) -> None:
    error = await api.error(
        f"query ($after: String) {{ {field}(after: $after) {{ edges {{ cursor }} }} }}",
        {"after": cursor},
        account.token,
    )
    assert_bad_input(error)
    assert error["message"] == "`after` is not a cursor this API returned"


async def test_cursors_the_api_wrote_still_page(api: Api, account: Account) -> None:
    first = await api.data("{ instruments(first: 2) { pageInfo { endCursor } } }")
    after = first["instruments"]["pageInfo"]["endCursor"]
    page = await api.data(
        "query ($after: String) { instruments(first: 2, after: $after) { edges { cursor } } }",
        {"after": after},
    )
    assert len(page["instruments"]["edges"]) == 2
    orders = await api.data(
        "query ($after: String) { orders(after: $after) { edges { cursor } } }",
        {"after": encode_cursor("order", 1)},
        account.token,
    )
    assert orders["orders"]["edges"] == []


class ControlCase(NamedTuple):
    kind: str  # query or mutation
    type_: str  # of $s
    field: str  # using $s
    value: Any  # with a control character


# The first three gave "Unexpected error." on PostgreSQL before (it cannot store NUL); the
# others were refused by their own rules, or not at all.
CONTROL_CHARACTER_CASES = [
    ControlCase("query", "String", "instruments(search: $s) { edges { cursor } }", "\x00"),
    ControlCase("query", "String!", "instrument(symbol: $s) { symbol }", "AAPL\x00"),
    ControlCase("mutation", "String!", "createWatchlist(name: $s) { id }", "My\x00list"),
    ControlCase(
        "mutation",
        "String!",
        f'register(email: $s, password: "{PASSWORD}") {{ __typename }}',
        "ali\x00ce@example.com",
    ),
    ControlCase(
        "mutation", "String!", 'login(email: $s, password: "x") { __typename }', "a@b.com\x00"
    ),
    ControlCase("query", "[String!]!", "quotes(symbols: $s) { symbol }", ["AAPL", "MS\x07FT"]),
    ControlCase("mutation", "String!", "createWatchlist(name: $s) { id }", "Bell\x1b[31m"),
]


def control_character_refused(error: dict[str, Any], character: str) -> None:
    assert_bad_input(error)
    assert error["message"] == (
        f"A string argument contains the control character U+{ord(character):04X}; "
        "only tab, line feed and carriage return are accepted."
    )


@pytest.mark.parametrize("where", ["variable", "literal"])
@pytest.mark.parametrize("case", CONTROL_CHARACTER_CASES, ids=lambda case: case.field[:20])
async def test_a_control_character_in_a_string_argument_is_refused(
    api: Api, account: Account, where: str, case: ControlCase
) -> None:
    kind, value = case.kind, case.value
    if where == "variable":
        query, variables = f"{kind} ($s: {case.type_}) {{ {case.field} }}", {"s": value}
    else:  # a JSON string is a GraphQL string literal, escapes and all
        query, variables = f"{kind} {{ {case.field.replace('$s', json.dumps(value))} }}", None
    result = await api.post(query, variables, account.token)
    assert result.get("data") is None, result  # refused before execution
    [error] = result["errors"]
    text = "".join(value) if isinstance(value, list) else value
    control_character_refused(error, next(c for c in text if c < " "))
    lists = await api.data("{ watchlists { name } }", token=account.token)
    assert lists["watchlists"] == []


async def test_a_control_character_deep_in_the_variables_is_refused(
    api: Api, account: Account, quotes: Quotes
) -> None:
    await quotes.set("PEP", bid="150.00", ask="150.02")
    order = {"symbol": "PEP", "side": "BUY", "type": "MARKET", "quantity": "1"}
    for bad, character in (
        ({**order, "clientOrderId": "abc\x00"}, "\x00"),
        ({**order, "sym\x01bol": "PEP"}, "\x01"),  # a key: unknown fields echo their names
    ):
        control_character_refused(await api.error(PLACE, {"input": bad}, account.token), character)
    orders = await api.data("{ orders { edges { cursor } } }", token=account.token)
    assert orders["orders"]["edges"] == []


async def test_tab_and_line_breaks_are_text(api: Api, account: Account) -> None:
    made = await api.data(
        "mutation ($s: String!) { createWatchlist(name: $s) { name } }",
        {"s": "Tech\tand\r\nmore"},
        account.token,
    )
    assert made["createWatchlist"]["name"] == "Tech and more"  # whitespace runs are one space


@CLIENTS
async def test_a_control_character_in_a_subscription_is_refused(
    api_server: RunningServer, client: Client
) -> None:
    quotes = "subscription Q($s: [String!]!) { quotes(symbols: $s) { symbol price } }"
    async with client(api_server.ws) as ws:
        start = "subscribe" if client is graphql_ws else "start"
        payload = {"query": quotes, "variables": {"s": ["AAPL\x00"]}}
        await ws.send({"id": "nul", "type": start, "payload": payload})
        [error] = await error_for(ws, "nul")
    control_character_refused(error, "\x00")
