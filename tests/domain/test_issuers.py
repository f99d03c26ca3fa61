"""Issuers: a command id is scoped to its subject, and a customer's commands see only its own orders."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from domain.command_bus import CommandBus
from domain.commands import AddOrderItem, CancelOrder, CreateOrder, ShipOrder
from domain.decider import INITIAL_STATE, as_seen_by, fold
from domain.errors import CommandIdReusedError, ConcurrencyConflictError, OrderNotFoundError
from domain.events import OrderCreated
from domain.handlers import fingerprint
from domain.issuers import SCOPED_KEY_PREFIX, Issuer, command_key
from domain.limits import MAX_ID_LENGTH
from domain.values import Address, LineItem
from eventstore.memory_store import InMemoryEventStore

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ADDRESS = Address(line1="1 Main St", line2=None, city="Springfield", postal_code="1", country="US")
ITEM = LineItem(product_id="p", quantity=1, price=Decimal("2.50"))
ALICE = Issuer(subject="alice", customer_id="alice")
BOB = Issuer(subject="bob", customer_id="bob")
STAFF = Issuer(subject="sam")


def create(order_id: str, customer_id: str, issuer: Issuer | None, command_id: str = "checkout-1") -> CreateOrder:
    return CreateOrder(
        command_id=command_id, issued_at=NOW, order_id=order_id, customer_id=customer_id,
        items=(ITEM,), shipping_address=ADDRESS, issuer=issuer,
    )


def test_without_an_issuer_the_key_is_the_command_id() -> None:
    assert command_key("checkout-1", None) == "checkout-1"


def test_scoped_keys_differ_by_subject_and_fit_the_id_column() -> None:
    longest = "x" * MAX_ID_LENGTH
    keys = {
        command_key("checkout-1", ALICE),
        command_key("checkout-1", BOB),
        command_key("checkout-1", None),
        command_key(longest, Issuer(subject="s" * 10_000)),
    }
    assert len(keys) == 4
    assert all(len(key) <= MAX_ID_LENGTH for key in keys)
    assert command_key("checkout-1", ALICE).startswith(SCOPED_KEY_PREFIX)
    # The subject decides, not the customer it acts for.
    assert command_key("c", Issuer(subject="alice", customer_id="x")) == command_key("c", ALICE)
    # No ambiguity in how subject and command id are joined.
    assert command_key("b:c", Issuer(subject="a")) != command_key("c", Issuer(subject="a:b"))


def test_the_issuer_is_not_part_of_the_fingerprint() -> None:
    command = create("o1", "alice", None)
    assert fingerprint(replace(command, issuer=ALICE)) == fingerprint(command)


def test_another_customers_order_is_seen_as_no_order() -> None:
    state = fold([OrderCreated(order_id="o1", customer_id="alice", items=(ITEM,), shipping_address=ADDRESS, occurred_at=NOW)])
    assert as_seen_by(ALICE, state) == state
    assert as_seen_by(STAFF, state) == state
    assert as_seen_by(None, state) == state
    assert as_seen_by(BOB, state) == INITIAL_STATE
    assert as_seen_by(BOB, INITIAL_STATE) == INITIAL_STATE


async def test_two_subjects_with_one_command_id_make_two_commands() -> None:
    store = InMemoryEventStore()
    bus = CommandBus(store)
    alices = await bus.dispatch(create("o-alice", "alice", ALICE))
    bobs = await bus.dispatch(create("o-bob", "bob", BOB))
    assert (alices.stream_id, bobs.stream_id) == ("o-alice", "o-bob")
    # Each replays only its own result.
    assert await bus.dispatch(create("o-alice", "alice", ALICE)) == alices
    assert await bus.dispatch(create("o-bob", "bob", BOB)) == bobs
    assert await store.head_position() == 2
    # Reuse for a different command is still refused, naming the client's id, not the key.
    with pytest.raises(CommandIdReusedError, match="commandId checkout-1 was"):
        await bus.dispatch(create("o-other", "alice", ALICE))


async def test_a_subject_cannot_replay_another_subjects_command() -> None:
    store = InMemoryEventStore()
    bus = CommandBus(store)
    await bus.dispatch(create("o-alice", "alice", ALICE))
    cancel = CancelOrder(command_id="c-cancel", issued_at=NOW, order_id="o-alice", reason="no", issuer=ALICE)
    await bus.dispatch(cancel)
    # Bob sends Alice's cancel, same id and content: not a replay of hers but his own
    # command, on an order he cannot see.
    with pytest.raises(OrderNotFoundError):
        await bus.dispatch(replace(cancel, issuer=BOB))


def commands_on(order_id: str, issuer: Issuer, expected: int | None = None) -> list[AddOrderItem | ShipOrder | CancelOrder]:
    return [
        AddOrderItem(command_id="k1", issued_at=NOW, order_id=order_id, item=ITEM, expected_version=expected, issuer=issuer),
        ShipOrder(command_id="k2", issued_at=NOW, order_id=order_id, expected_version=expected, issuer=issuer),
        CancelOrder(command_id="k3", issued_at=NOW, order_id=order_id, reason="r", expected_version=expected, issuer=issuer),
    ]


@pytest.mark.parametrize("expected_version", [None, 0, 1, 5])
async def test_another_customers_order_answers_exactly_as_a_missing_one(expected_version: int | None) -> None:
    store = InMemoryEventStore()
    bus = CommandBus(store)
    await bus.dispatch(create("o-alice", "alice", ALICE))
    for foreign, missing in zip(
        commands_on("o-alice", BOB, expected_version), commands_on("o-alice-", BOB, expected_version), strict=True
    ):
        with pytest.raises((OrderNotFoundError, ConcurrencyConflictError)) as on_foreign:
            await bus.dispatch(foreign)
        with pytest.raises((OrderNotFoundError, ConcurrencyConflictError)) as on_missing:
            await bus.dispatch(missing)
        assert type(on_foreign.value) is type(on_missing.value)
        # The same words, but for the id the client sent.
        assert str(on_foreign.value).replace("o-alice", "ID") == str(on_missing.value).replace("o-alice-", "ID")
    assert await store.head_position() == 1


async def test_staff_and_the_owner_change_the_order() -> None:
    store = InMemoryEventStore()
    bus = CommandBus(store)
    await bus.dispatch(create("o-alice", "alice", ALICE))
    add = AddOrderItem(command_id="a", issued_at=NOW, order_id="o-alice", item=ITEM, issuer=ALICE)
    assert (await bus.dispatch(add)).version == 2
    ship = ShipOrder(command_id="a", issued_at=NOW, order_id="o-alice", issuer=STAFF)
    assert (await bus.dispatch(ship)).version == 3
