"""Read-model money: the fast roads of format_amount and to_minor agree with the plain ones."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.money import MAX_MINOR, MIN_MINOR, format_amount, lower_bound_minor, to_minor, upper_bound_minor

AMOUNTS = st.decimals(allow_nan=False, allow_infinity=False) | st.builds(
    Decimal, st.tuples(st.integers(0, 1), st.tuples(*[st.integers(0, 9)] * 4), st.integers(-12, 12))
)


@given(AMOUNTS)
def test_format_amount_is_format_f(amount: Decimal) -> None:
    assert format_amount(amount) == format(amount, "f")


@pytest.mark.parametrize("text", ["1E+2", "1E-7", "-0", "-0.00", "0E-10", "123.4500", "-5E+3", "0.000001", "1.5E-7"])
def test_format_amount_never_uses_exponent_notation(text: str) -> None:
    amount = Decimal(text)
    assert format_amount(amount) == format(amount, "f")
    assert "E" not in format_amount(amount)


@given(AMOUNTS)
def test_to_minor_is_the_rounded_scaled_amount_clamped(amount: Decimal) -> None:
    for rounding, bound in ((ROUND_FLOOR, upper_bound_minor), (ROUND_CEILING, lower_bound_minor)):
        expected = max(MIN_MINOR, min(MAX_MINOR, int((amount * Decimal(10_000)).to_integral_value(rounding=rounding))))
        assert to_minor(amount, rounding) == expected
        assert bound(amount) == expected


def test_to_minor_rounds_down_negative_fractions_and_saturates() -> None:
    assert to_minor(Decimal("-0.00005")) == -1
    assert to_minor(Decimal("-0.00005"), ROUND_CEILING) == 0
    assert to_minor(Decimal("1E+20")) == MAX_MINOR
    assert to_minor(Decimal("-1E+20")) == MIN_MINOR
