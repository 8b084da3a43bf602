"""Unit tests of pure logic: money arithmetic, cursors, password rules, bearer parsing,
tokens, and the request-size middleware."""

from __future__ import annotations

from decimal import Decimal

import pytest

from resolvers.auth import (
    CurrentUser,
    bearer_token,
    issue_token,
    password_problem,
    user_id_from_token,
)
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
    token = issue_token(settings, CurrentUser(7, "a@example.com", False))
    assert user_id_from_token(settings, token) == 7
    assert user_id_from_token(make_settings(jwt_secret="j" * 32), token) is None
