"""Command fingerprints stay what earlier versions stored: a retried command must still match."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from domain.commands import AddOrderItem, CancelOrder, Command, CreateOrder, ShipOrder
from domain.handlers import fingerprint
from domain.values import Address, LineItem

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def stored_form(command: Command) -> str:
    """How the digest was first defined: asdict without id and time, canonical JSON, SHA-256."""
    fields = dataclasses.asdict(command)
    fields.pop("command_id")
    fields.pop("issued_at")
    fields.pop("issuer")  # added later, kept out so that stored digests still match
    canonical = json.dumps([type(command).__name__, fields], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


COMMANDS = [
    CreateOrder(
        command_id="c-1", issued_at=NOW, order_id="o-1", customer_id="alice",
        items=(LineItem(product_id="a", quantity=2, price=Decimal("1.50")),
               LineItem(product_id="b", quantity=1, price=Decimal("0.0001"))),
        shipping_address=Address(line1="1 Main St", line2=None, city="X", postal_code="1", country="US"),
    ),
    AddOrderItem(command_id="c-2", issued_at=NOW, order_id="o-1",
                 item=LineItem(product_id="c", quantity=3, price=Decimal("9")), expected_version=1),
    ShipOrder(command_id="c-3", issued_at=NOW, order_id="o-1", expected_version=None),
    CancelOrder(command_id="c-4", issued_at=NOW, order_id="o-1", reason="changed my mind", expected_version=2),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: type(command).__name__)
def test_fingerprint_is_the_stored_form(command: Command) -> None:
    assert fingerprint(command) == stored_form(command)


def test_fingerprint_ignores_id_and_time_but_not_content() -> None:
    first = COMMANDS[0]
    again = dataclasses.replace(first, command_id="other", issued_at=datetime.now(UTC))
    assert fingerprint(again) == fingerprint(first)
    assert fingerprint(dataclasses.replace(first, customer_id="bob")) != fingerprint(first)
