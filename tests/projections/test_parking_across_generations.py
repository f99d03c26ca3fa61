"""Parking meets blue-green rebuilds (SQLite and PostgreSQL): a shadow parks under its own name, the
switch hands its parked streams to the live projection, and parking works on the new generation."""

from __future__ import annotations

from typing import Any

import pytest

from domain.command_bus import CommandBus
from eventstore.database import Database
from eventstore.local_bus import InProcessBus
from eventstore.sql_store import SqlEventStore
from projections.blue_green import BlueGreenRebuild
from projections.parked_streams import ParkingRequest
from projections.parking_desk import ParkingDesk
from projections.read_models import ReadModelStore
from projections.registry import PROJECTIONS
from tests.projections.conftest import RunnerFactory
from tests.projections.test_parking import Orders, park, parked, repair_poison, view


@pytest.fixture
async def orders(database: Database, commands: CommandBus, store: SqlEventStore) -> Orders:
    written = Orders()
    await written.write(database, commands, store)
    return written


def _rebuild(read_models: ReadModelStore, store: SqlEventStore, bus: InProcessBus, **options: Any) -> BlueGreenRebuild:
    return BlueGreenRebuild(
        read_models=read_models, events=store, bus=bus, name="order_views", projector=PROJECTIONS["order_views"],
        batch_size=2, retry_base=0.01, retry_max=0.01, **options,
    )


async def test_a_stream_the_new_generation_parks_is_parked_in_the_live_projection_after_the_switch(
    database: Database,
    read_models: ReadModelStore,
    store: SqlEventStore,
    bus: InProcessBus,
    orders: Orders,
    make_runner: RunnerFactory,
) -> None:
    live = make_runner("order_views", park_after=0)
    await park(live, failures=0)
    (before,) = await parked(read_models)

    outcome = await _rebuild(read_models, store, bus).run()

    assert outcome.generation == 2
    (after,) = await parked(read_models)
    assert (after.projection, after.stream_id, after.version, after.position) == (
        "order_views", orders.bad, 2, orders.poison_position,
    )
    assert after.parked_at >= before.parked_at  # the new generation's own record of it
    # The live runner, rebound to generation 2, still holds the stream back; a retry after the
    # fix replays it into generation 2 (the parking plans and commits on the bound store).
    await live.catch_up()
    assert live.generation == 2 and live.parked == {orders.bad: 2}
    await repair_poison(database, orders.bad, 2)
    await ParkingDesk(read_models, bus).request(orders.bad, ParkingRequest.RETRY)
    await live.catch_up()
    assert await parked(read_models) == [] and live.parked == {}
    bad = await view(read_models, orders.bad)
    assert (bad.version, bad.status) == (3, "SHIPPED")


async def test_a_stream_the_new_generation_folds_is_no_longer_parked_after_the_switch(
    database: Database,
    read_models: ReadModelStore,
    store: SqlEventStore,
    bus: InProcessBus,
    orders: Orders,
    make_runner: RunnerFactory,
) -> None:
    live = make_runner("order_views", park_after=0)
    await park(live, failures=0)
    assert [row.stream_id for row in await parked(read_models)] == [orders.bad]

    await repair_poison(database, orders.bad, 2)  # the event fixed, then the read model rebuilt
    await _rebuild(read_models, store, bus).run()

    assert await parked(read_models) == []
    bad = await view(read_models, orders.bad)
    assert (bad.version, bad.status) == (3, "SHIPPED")
    await live.catch_up()
    assert live.generation == 2 and live.parked == {}
