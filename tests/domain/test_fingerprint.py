"""Command fingerprints stay what earlier versions stored: a retried command must still match."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.command_bus import CommandBus
from domain.commands import AddOrderItem, CancelOrder, Command, CreateOrder, ShipOrder
from domain.decider import INITIAL_STATE, decide
from domain.errors import CommandIdReusedError
from domain.handlers import canonical_json, fingerprint
from domain.ports import CommandStamp
from domain.values import Address, LineItem
from eventstore.memory_store import InMemoryEventStore

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


# Any text (non-ASCII, control characters, unpaired surrogates), any Decimal, any int: the digest
# written out by canonical_json is the one json.dumps made when the command was first stored.
TEXT = st.text(alphabet=st.characters(blacklist_categories=()), max_size=12)
DECIMALS = st.decimals(allow_nan=True, allow_infinity=True)
LINES = st.builds(LineItem, product_id=TEXT, quantity=st.integers(), price=DECIMALS)
ADDRESSES = st.builds(Address, line1=TEXT, line2=st.none() | TEXT, city=TEXT, postal_code=TEXT, country=TEXT)
VERSIONS = st.none() | st.integers()
GENERATED = st.one_of(
    st.builds(CreateOrder, command_id=TEXT, issued_at=st.just(NOW), order_id=TEXT, customer_id=TEXT,
              items=st.lists(LINES, max_size=3).map(tuple), shipping_address=ADDRESSES),
    st.builds(AddOrderItem, command_id=TEXT, issued_at=st.just(NOW), order_id=TEXT, item=LINES, expected_version=VERSIONS),
    st.builds(ShipOrder, command_id=TEXT, issued_at=st.just(NOW), order_id=TEXT, expected_version=VERSIONS),
    st.builds(CancelOrder, command_id=TEXT, issued_at=st.just(NOW), order_id=TEXT, reason=TEXT, expected_version=VERSIONS),
)


@settings(max_examples=500, deadline=None)
@given(command=GENERATED)
def test_generated_commands_keep_the_stored_fingerprint(command: Command) -> None:
    fields = dataclasses.asdict(command)
    for key in ("command_id", "issued_at", "issuer"):
        fields.pop(key)
    assert canonical_json(command) == json.dumps([type(command).__name__, fields], sort_keys=True, default=str)
    assert fingerprint(command) == stored_form(command)


class Sku(str):
    """A str subtype: canonical_json leaves such values to json.dumps."""


def test_values_it_does_not_write_itself_still_give_the_stored_form() -> None:
    unlisted = [
        dataclasses.replace(COMMANDS[0], customer_id=Sku("alice")),
        dataclasses.replace(COMMANDS[2], expected_version=1.0),  # type: ignore[arg-type]
    ]
    for command in unlisted:
        with pytest.raises(Exception):  # noqa: B017, PT011 - its private signal
            canonical_json(command)
        assert fingerprint(command) == stored_form(command)
    boolean = dataclasses.replace(COMMANDS[1], expected_version=True)
    assert fingerprint(boolean) == stored_form(boolean)


async def test_a_command_stored_with_the_first_digest_is_recognised_when_retried() -> None:
    """A record written before canonical_json existed (its digest by json.dumps) still replays."""
    store = InMemoryEventStore()
    command = dataclasses.replace(COMMANDS[0], customer_id="Zoë \u2603", order_id="o-retried")
    stamp = CommandStamp(command_id=command.command_id, command_type="CreateOrder", fingerprint=stored_form(command))
    first = await store.append(command.order_id, "order", decide(command, INITIAL_STATE), expected_version=0, command=stamp)
    assert await CommandBus(store).dispatch(command) == first
    with pytest.raises(CommandIdReusedError):
        await CommandBus(store).dispatch(dataclasses.replace(command, customer_id="someone else"))
