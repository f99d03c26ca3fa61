"""The command bus and handler on the in-memory store: idempotency, retries and conflicts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from domain.command_bus import CommandBus
from domain.commands import AddOrderItem, CreateOrder
from domain.errors import CommandIdReusedError, ConcurrencyConflictError, UnknownCommandError
from domain.events import Event
from domain.ports import AppendResult, CommandStamp
from domain.values import Address, LineItem
from eventstore.memory_store import InMemoryEventStore

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ADDRESS = Address(line1="1 Main St", line2=None, city="Springfield", postal_code="1", country="US")
ITEM = LineItem(product_id="p", quantity=1, price=Decimal("2.50"))


def create(command_id: str = "c1", order_id: str = "o1", customer_id: str = "alice") -> CreateOrder:
    return CreateOrder(
        command_id=command_id, issued_at=NOW, order_id=order_id, customer_id=customer_id,
        items=(ITEM,), shipping_address=ADDRESS,
    )


def add(command_id: str, expected_version: int | None = None) -> AddOrderItem:
    return AddOrderItem(
        command_id=command_id, issued_at=NOW, order_id="o1", item=ITEM, expected_version=expected_version
    )


async def test_a_command_returns_what_it_wrote() -> None:
    store = InMemoryEventStore()
    result = await CommandBus(store).dispatch(create())
    assert result == AppendResult(stream_id="o1", version=1, position=1)
    assert [event.type_name for event in await store.read_stream("o1")] == ["order.created"]


async def test_repeating_a_command_id_replays_the_first_result_and_writes_nothing() -> None:
    store = InMemoryEventStore()
    bus = CommandBus(store)
    first = await bus.dispatch(create())
    again = await bus.dispatch(create())
    assert again == first
    assert await store.head_position() == 1


async def test_reusing_a_command_id_for_another_command_is_refused() -> None:
    store = InMemoryEventStore()
    bus = CommandBus(store)
    await bus.dispatch(create())
    with pytest.raises(CommandIdReusedError):
        await bus.dispatch(create(customer_id="bob"))
    assert await store.head_position() == 1


async def test_a_client_expected_version_that_is_stale_is_a_conflict() -> None:
    store = InMemoryEventStore()
    bus = CommandBus(store)
    await bus.dispatch(create())
    await bus.dispatch(add("c2", expected_version=1))
    with pytest.raises(ConcurrencyConflictError) as raised:
        await bus.dispatch(add("c3", expected_version=1))
    assert (raised.value.expected, raised.value.actual) == (1, 2)
    assert await store.head_position() == 2


@dataclass
class RacingStore(InMemoryEventStore):
    """Lets a competing writer slip in before the first `races` appends."""

    races: int = 0

    def __post_init__(self) -> None:
        super().__init__()

    async def append(
        self, stream_id: str, stream_type: str, events: Sequence[Event], *, expected_version: int, command: CommandStamp
    ) -> AppendResult:
        if self.races > 0 and expected_version > 0:
            self.races -= 1
            await super().append(
                stream_id, stream_type, events, expected_version=expected_version,
                command=CommandStamp(command_id=f"rival-{self.races}", command_type="x", fingerprint="x"),
            )
        return await super().append(stream_id, stream_type, events, expected_version=expected_version, command=command)


async def test_without_expected_version_a_lost_race_is_decided_again() -> None:
    store = RacingStore(races=2)
    bus = CommandBus(store)
    await bus.dispatch(create())
    result = await bus.dispatch(add("c2"))
    assert result.version == 4
    assert len(await store.read_stream("o1")) == 4


async def test_with_expected_version_a_lost_race_is_a_conflict() -> None:
    store = RacingStore(races=1)
    bus = CommandBus(store)
    await bus.dispatch(create())
    with pytest.raises(ConcurrencyConflictError):
        await bus.dispatch(add("c2", expected_version=1))


async def test_an_unregistered_command_is_a_clear_error() -> None:
    @dataclass(frozen=True)
    class Refund:
        command_id: str

    with pytest.raises(UnknownCommandError, match="Refund"):
        await CommandBus(InMemoryEventStore()).dispatch(Refund("c"))  # type: ignore[arg-type]
