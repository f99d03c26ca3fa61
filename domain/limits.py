"""Input limits: what the decider accepts before it decides anything."""

from __future__ import annotations

from decimal import Decimal

from domain.errors import InvalidInputError
from domain.values import Address, LineItem

MAX_ITEMS_PER_ORDER = 100
MAX_QUANTITY = 1_000_000
MAX_PRICE = Decimal("1000000000")
MONEY_DECIMAL_PLACES = 4
MAX_ID_LENGTH = 100
MAX_TEXT_LENGTH = 200
MAX_REASON_LENGTH = 500


def check_characters(field: str, value: str) -> None:
    """Reject a NUL or an unpaired surrogate: text that not every store can keep as written."""
    if "\x00" in value:
        raise InvalidInputError(f"{field} must not contain a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInputError(f"{field} must not contain an unpaired surrogate") from None


def check_text(field: str, value: str | None, *, limit: int = MAX_TEXT_LENGTH, required: bool = True) -> None:
    """Reject a missing, blank, over-long or unstorable string."""
    if value is None:
        if required:
            raise InvalidInputError(f"{field} is required")
        return
    check_characters(field, value)
    if required and not value.strip():
        raise InvalidInputError(f"{field} must not be empty")
    if len(value) > limit:
        raise InvalidInputError(f"{field} is longer than {limit} characters")


def check_price(field: str, price: Decimal) -> None:
    """A price is a finite decimal, zero or more, with at most four decimal places."""
    if not price.is_finite():
        raise InvalidInputError(f"{field} must be a finite number")
    if price < 0:
        raise InvalidInputError(f"{field} must be zero or more")
    if price > MAX_PRICE:
        raise InvalidInputError(f"{field} must be at most {MAX_PRICE}")
    exponent = price.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MONEY_DECIMAL_PLACES:
        raise InvalidInputError(f"{field} has more than {MONEY_DECIMAL_PLACES} decimal places")


def check_item(item: LineItem, field: str = "item") -> None:
    """One line: a product id, a quantity of at least 1, a valid price."""
    check_text(f"{field}.productId", item.product_id, limit=MAX_ID_LENGTH)
    if item.quantity < 1:
        raise InvalidInputError(f"{field}.quantity must be at least 1")
    if item.quantity > MAX_QUANTITY:
        raise InvalidInputError(f"{field}.quantity must be at most {MAX_QUANTITY}")
    check_price(f"{field}.price", item.price)


def check_address(address: Address) -> None:
    """Every required address line present, none over-long."""
    check_text("shippingAddress.line1", address.line1)
    check_text("shippingAddress.line2", address.line2, required=False)
    check_text("shippingAddress.city", address.city)
    check_text("shippingAddress.postalCode", address.postal_code, limit=MAX_ID_LENGTH)
    check_text("shippingAddress.country", address.country, limit=MAX_ID_LENGTH)
