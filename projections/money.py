"""Amounts in read models: exact text for display, integer minor units for filters and sorts."""

from __future__ import annotations

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
    minor = int((amount * SCALE).to_integral_value(rounding=rounding))
    return max(MIN_MINOR, min(MAX_MINOR, minor))


def lower_bound_minor(amount: Decimal) -> int:
    """The smallest minor value an inclusive lower bound admits."""
    return to_minor(amount, ROUND_CEILING)


def upper_bound_minor(amount: Decimal) -> int:
    """The largest minor value an inclusive upper bound admits."""
    return to_minor(amount, ROUND_FLOOR)


def format_amount(amount: Decimal) -> str:
    """Plain decimal text, never exponent notation ("1E+2" becomes "100")."""
    return format(amount, "f")
