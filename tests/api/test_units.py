"""Unit tests of pure logic: money arithmetic, cursors, password rules, bearer parsing,
tokens, and the request-size middleware."""

from __future__ import annotations

from decimal import Decimal

import pytest

from graph.errors import BadInput
from graph.scalars import parse_big_int
from resolvers.auth import (
    CurrentUser,
    TokenClaims,
    bearer_token,
    email_problem,
    issue_token,
    normalise_email,
    password_problem,
    token_claims,
)
from resolvers.numbers import plain_decimal, whole_number
from resolvers.pagination import BadPage, decode_cursor, decode_int_cursor, encode_cursor, page_size
from tests.conftest import make_settings
from trading.money import NotExact, average, exact, is_multiple


def test_exact_refuses_digits_finer_than_storage() -> None:
    assert exact(Decimal("1.5") * Decimal("100.25")) == Decimal("150.375")
    with pytest.raises(NotExact):
        exact(Decimal("0.000000001"))


def test_average_rounds_half_even_at_eight_places() -> None:
    assert average(Decimal(2), Decimal(3)) == Decimal("0.66666667")
    assert average(Decimal("0.000000025"), Decimal(1)) == Decimal("0.00000002")


def test_multiples_of_lot_and_tick() -> None:
    assert is_multiple(Decimal("100.05"), Decimal("0.01"))
    assert not is_multiple(Decimal("100.005"), Decimal("0.01"))
    assert not is_multiple(Decimal("1"), Decimal(0))


def test_cursors_round_trip_and_refuse_foreign_ones() -> None:
    assert decode_cursor("instrument", encode_cursor("instrument", "BRK.B")) == "BRK.B"
    assert decode_int_cursor("order", encode_cursor("order", 42)) == 42
    assert decode_cursor("order", None) is None
    for bad in (encode_cursor("notification", 42), "!!", encode_cursor("order", "x")):
        with pytest.raises(BadPage):
            decode_int_cursor("order", bad)


def test_page_size_bounds() -> None:
    assert page_size(None, 100) == 20
    assert page_size(100, 100) == 100
    for bad in (0, -1, 101):
        with pytest.raises(BadPage):
            page_size(bad, 100)


@pytest.mark.parametrize(
    ("password", "weak"),
    [
        ("correct-horse-7", False),
        ("short-1", True),
        ("lettersonlyhere", True),
        ("12345678901", True),
        ("ababababab1", True),
        ("alice-secret-1", True),  # contains the email's name
        ("x" * 129 + "1", True),
    ],
)
def test_password_rules(password: str, weak: bool) -> None:
    assert (password_problem(password, "alice@example.com") is not None) == weak


def test_bearer_header_parsing() -> None:
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer  abc ") == "abc"
    for bad in (None, "", "Basic abc", "Bearer", "Bearer  "):
        assert bearer_token(bad) is None


def test_tokens_name_their_user_and_need_the_key() -> None:
    settings = make_settings(jwt_secret="k" * 32)
    token = issue_token(settings, CurrentUser(7, "a@example.com", False), "key-7")
    assert token_claims(settings, token) == TokenClaims(7, "key-7")
    assert token_claims(make_settings(jwt_secret="j" * 32), token) is None


@pytest.mark.parametrize("text", ["0", "7", "42", "999999999999999999"])
def test_whole_numbers_in_their_plain_spelling(text: str) -> None:
    assert whole_number(text, 18) == int(text)


@pytest.mark.parametrize(
    "text", ["", "²", "١", "1_0", " 1", "1 ", "01", "+1", "-1", "1.0", "9" * 19, "1\n"]
)
def test_whole_numbers_refuse_other_spellings(text: str) -> None:
    assert whole_number(text, 18) is None


@pytest.mark.parametrize(("text", "value"), [("0", "0"), ("-3", "-3"), ("12.50", "12.50")])
def test_plain_decimals(text: str, value: str) -> None:
    assert plain_decimal(text, 28) == Decimal(value)


@pytest.mark.parametrize(
    "text", ["1_0", "١", " 1", "1e3", "+1", ".5", "5.", "1..2", "00.5", "NaN", "-", "9" * 29]
)
def test_plain_decimals_refuse_other_spellings(text: str) -> None:
    assert plain_decimal(text, 28) is None


@pytest.mark.parametrize("value", ["1", 1.0, True, 2**53, -(2**53)])
def test_big_int_takes_only_json_integers_in_range(value: object) -> None:
    with pytest.raises(BadInput):
        parse_big_int(value)
    assert parse_big_int(2**53 - 1) == 2**53 - 1


def test_emails_normalise_to_one_form() -> None:
    assert normalise_email("  ＡＬＩＣＥ＠ｅｘａｍｐｌｅ．ｃｏｍ\n") == "alice@example.com"
    assert normalise_email("Alice@Example.COM") == "alice@example.com"
    assert email_problem("alice@example.com") is None
    for bad in ("\u0430lice@example.com", "a\x00@example.com", "a\u2060b@example.com"):
        assert email_problem(normalise_email(bad)) is not None, bad


def test_common_passwords_are_weak_whatever_their_case() -> None:
    assert password_problem("PASSWORD123", "alice@example.com") is not None
    assert password_problem("correct-horse-7", "alice@example.com") is None
