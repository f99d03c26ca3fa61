"""Amounts in read models: exact text for display, integer minor units for filters and sorts."""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

# Minor units are amount * 10000 (the domain allows four decimal places). The amount itself
# is stored exactly as text; the integer column only serves filtering and sorting, so a
# total beyond what a BIGINT holds (about 9.2e14) saturates at the bound instead of failing
# the projection. Such totals sort as equal and filter as "at the bound".
SCALE = Decimal(10_000)
MAX_MINOR = 2**63 - 1
MIN_MINOR = -(2**63)


def to_minor(amount: Decimal, rounding: str = ROUND_FLOOR) -> int:
    """amount * 10000 as an integer, clamped to the BIGINT range."""
    scaled = amount * SCALE
    # math.floor is Decimal.__floor__, the same exact rounding as to_integral_value(ROUND_FLOOR) at a
    # third of its cost: the projectors call this for every row they write.
    minor = math.floor(scaled) if rounding == ROUND_FLOOR else int(scaled.to_integral_value(rounding=rounding))
    return minor if MIN_MINOR <= minor <= MAX_MINOR else max(MIN_MINOR, min(MAX_MINOR, minor))


def lower_bound_minor(amount: Decimal) -> int:
    """The smallest minor value an inclusive lower bound admits."""
    return to_minor(amount, ROUND_CEILING)


def upper_bound_minor(amount: Decimal) -> int:
    """The largest minor value an inclusive upper bound admits."""
    return to_minor(amount, ROUND_FLOOR)


def format_amount(amount: Decimal) -> str:
    """Plain decimal text, never exponent notation ("1E+2" becomes "100")."""
    # str() is the same text unless it chose exponent notation, at half the cost of format(): the
    # projectors format every line item and total they write (tests/projections/test_money.py).
    text = str(amount)
    return text if "E" not in text else format(amount, "f")
