"""How a Decimal is written in a response: a `Written` one at its own places, any other
without trailing zeros; never an exponent, never a negative zero."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from graph.scalars import STR_UNLESS, Written, serialize_decimal


@pytest.mark.parametrize(
    ("value", "as_written", "as_plain"),
    [
        ("249.00", "249.00", "249"),
        ("100.50", "100.50", "100.5"),
        ("100", "100", "100"),
        ("1E+2", "100", "100"),
        ("4.002E+2", "400.2", "400.2"),
        ("0.0000001", "0.0000001", "0.0000001"),
        ("1.20E-8", "0.0000000120", "0.000000012"),
        ("-0.00", "0.00", "0"),
        ("-0", "0", "0"),
        ("0E+3", "0", "0"),
        ("-3.10", "-3.10", "-3.1"),
        ("-0.50", "-0.50", "-0.5"),
        ("0.50", "0.50", "0.5"),
        ("-0.0000000120", "-0.0000000120", "-0.000000012"),
        ("150", "150", "150"),
        ("100.0", "100.0", "100"),
        ("1000.000", "1000.000", "1000"),
        (
            "12345678901234567890.123456",
            "12345678901234567890.123456",
            "12345678901234567890.123456",
        ),
    ],
)
def test_decimals_are_written_in_plain_digits(value: str, as_written: str, as_plain: str) -> None:
    assert serialize_decimal(Written(value)) == as_written
    assert serialize_decimal(Decimal(value)) == as_plain


@given(
    digits=st.integers(min_value=-(10**30), max_value=10**30),
    exponent=st.integers(min_value=-30, max_value=30),
)
def test_what_the_serializer_declares_it_writes_as_str_it_does(digits: int, exponent: int) -> None:
    """`STR_UNLESS` (which a compiled selection writes inline): a Written or Decimal whose
    `str` holds none of its type's marks is written as that `str`."""
    plain_value = Decimal(digits).scaleb(exponent)
    for value in (plain_value, Written(plain_value)):
        text = str(value)
        if not any(mark in text for mark in STR_UNLESS[type(value)]):
            assert serialize_decimal(value) == text
