"""Strict inputs (#14), over HTTP against PostgreSQL: an email address has one form (NFKC,
trimmed, lower-case, ASCII), so look-alikes are the same account or refused; common passwords
are refused; numbers, ids and cursors parse only in their one plain spelling, and everything
else is a clear BAD_USER_INPUT, never "Unexpected error."."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from resolvers.pagination import encode_cursor
from tests.api.conftest import PASSWORD, REGISTER, Account, Api, Quotes
from tests.api.test_auth import LOGIN
from tests.api.test_trading import CANCEL, PLACE

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
        "ali\x00ce@example.com",
        "alice@example.com\x00",
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
