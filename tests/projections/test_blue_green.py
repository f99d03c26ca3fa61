"""Blue-green rebuilds in one process, on SQLite and PostgreSQL: generation tables behind views, a store
bound to a generation, the switch (and its compare-and-set on the generation), resuming, starting
over, and a projector whose version changed rebuilding by itself."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from sqlalchemy import func, inspect, select, text

from domain.command_bus import CommandBus
from domain.ports import RecordedEvent
from eventstore.local_bus import InProcessBus
from eventstore.sql_store import SqlEventStore
from orderly.bootstrap import build_container
from orderly.settings import Settings
from projections.blue_green import BlueGreenRebuild
from projections.changes import Upsert
from projections.checkpoints import ProjectionState, read_checkpoint, shadow_name
from projections.customer_summaries.queries import CustomerSummaryQueries
from projections.generations import generation_tables, object_name, physical_table
from projections.order_views.queries import OrderViewQueries
from projections.order_views.tables import ORDER_ROW, SEARCH_INDEXES, order_views
from projections.read_models import ReadModelStore
from projections.registry import PROJECTIONS
from projections.runner import ProjectionRunner
from projections.status import get_status
from projections.switch import switch
from projections.upgrade import VersionUpgrade
from tests.projections.builders import add_item, cancel_order, create_order, item, new_id, ship_order
from tests.projections.conftest import RunnerFactory, eventually

ORDERS = PROJECTIONS["order_views"]


async def _orders(commands: CommandBus, count: int) -> list[str]:
    ids = []
    for index in range(count):
        order_id, customer_id = new_id("order"), new_id("cust")
        await commands.dispatch(create_order(order_id, customer_id, item(price=f"{index + 1}.25")))
        await commands.dispatch(add_item(order_id, item("sku-2", 2, "3.10")))
        if index % 3 == 1:
            await commands.dispatch(ship_order(order_id))
        if index % 3 == 2:
            await commands.dispatch(cancel_order(order_id))
        ids.append(order_id)
    return ids


async def _table_rows(read_models: ReadModelStore, table_name: str) -> list[tuple[Any, ...]]:
    async with read_models.reader.connect() as conn:
        return [tuple(row) for row in await conn.execute(text(f'SELECT * FROM "{table_name}" ORDER BY 1'))]


async def _live(read_models: ReadModelStore, name: str = "order_views") -> Any:
    async with read_models.reader.connect() as conn:
        return await read_checkpoint(conn, name)


async def _caught_up(runner: ProjectionRunner, store: SqlEventStore) -> None:
    head = await store.head_position()
    await runner.catch_up()
    assert runner.position >= head


def _rebuild(read_models: ReadModelStore, store: SqlEventStore, bus: InProcessBus, **options: Any) -> BlueGreenRebuild:
    options = {"name": "order_views", "projector": ORDERS, "batch_size": 7, **options}
    return BlueGreenRebuild(read_models=read_models, events=store, bus=bus, **options)


def test_a_generation_names_its_tables_and_indexes() -> None:
    g1, g2 = physical_table(order_views, 1), physical_table(order_views, 2)
    assert (g1.name, g2.name) == ("order_views__g1", "order_views__g2")
    assert g1.primary_key.name == "pk_order_views" and g2.primary_key.name == "pk_order_views__g2"
    assert "ix_order_views_search_shipped" in {index.name for index in g1.indexes}
    assert "ix_order_views_search_shipped__g2" in {index.name for index in g2.indexes}
    assert [column.name for column in g2.columns] == [column.name for column in order_views.columns]
    assert set(generation_tables(PROJECTIONS["customer_summaries"], 3)) == set(PROJECTIONS["customer_summaries"].tables)


async def test_a_rebuild_fills_a_new_generation_switches_and_drops_the_old(
    read_models: ReadModelStore, store: SqlEventStore, commands: CommandBus, bus: InProcessBus, make_runner: RunnerFactory
) -> None:
    ids = await _orders(commands, 12)
    runner = make_runner("order_views")
    await _caught_up(runner, store)
    before = await _table_rows(read_models, "order_views")
    orders = OrderViewQueries(read_models)
    shown = await orders.get(ids[4])
    async with bus.subscribe("orderly.projection.order_views") as inbox:
        outcome = await _rebuild(read_models, store, bus).run()
        assert await inbox.get(timeout=1) is not None  # the RESYNC that makes trackers re-read

    assert (outcome.generation, outcome.version, outcome.dropped) == (2, 1, True)
    live = await _live(read_models)
    assert (live.generation, live.state, live.position) == (2, ProjectionState.RUNNING, await store.head_position())
    assert await _live(read_models, shadow_name("order_views")) is None
    assert await _table_rows(read_models, "order_views") == before == await _table_rows(read_models, "order_views__g2")
    assert await orders.get(ids[4]) == shown
    async with read_models.reader.connect() as conn:
        tables = set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    assert "order_views__g1" not in tables and "order_views__g2" in tables
    assert "customer_order_facts__g1" in tables  # another projection's generation is not touched

    # The live runner (still bound to generation 1) commits nothing there: it rebinds and goes on.
    order_id = new_id("order")
    await commands.dispatch(create_order(order_id, new_id("cust")))
    await _caught_up(runner, store)
    assert runner.generation == 2
    view = await orders.get(order_id)
    assert view is not None and view.version == 1


async def test_after_a_switch_the_old_generations_commit_writes_nothing(
    read_models: ReadModelStore, store: SqlEventStore, commands: CommandBus, bus: InProcessBus, make_runner: RunnerFactory
) -> None:
    ids = await _orders(commands, 3)
    await _caught_up(make_runner("order_views"), store)
    live = await _live(read_models)
    old = read_models.for_generation(1, generation_tables(ORDERS, 1))
    rebuild = _rebuild(read_models, store, bus)
    await rebuild.prepare(live)
    await ProjectionRunner(shadow_name("order_views"), ORDERS, read_models, store, InProcessBus()).catch_up()
    assert await switch(read_models, store, "order_views", ORDERS) is not None  # generation 1 not dropped yet

    stale = dict(await old.row_by_key(ORDER_ROW, ids[0]) or {})
    row = {**stale, "order_id": new_id("order"), "total_minor": 1, "search_text": "x"}
    upsert = Upsert(table=order_views, rows=[row], key=("order_id",), newer="version")
    assert not await old.commit_batch("order_views", live.position, live.position + 1, ProjectionState.RUNNING, [upsert])
    assert (await _live(read_models)).position == live.position
    assert await old.row_by_key(ORDER_ROW, row["order_id"]) is None  # the upsert waited on the same compare-and-set
    assert len(await _table_rows(read_models, "order_views__g1")) == 3


async def test_the_switch_applies_the_events_the_shadow_missed(
    read_models: ReadModelStore, store: SqlEventStore, commands: CommandBus, bus: InProcessBus, make_runner: RunnerFactory
) -> None:
    ids = await _orders(commands, 4)
    live_runner = make_runner("order_views")
    await _caught_up(live_runner, store)
    rebuild = _rebuild(read_models, store, bus)
    await rebuild.prepare(await _live(read_models))
    shadow = ProjectionRunner(shadow_name("order_views"), ORDERS, read_models, store, InProcessBus(), batch_size=50)
    await shadow.catch_up()
    # New events that only the live generation has applied.
    await commands.dispatch(add_item(ids[0], item("sku-9", 1, "1.00")))
    await commands.dispatch(ship_order(ids[3]))
    await _caught_up(live_runner, store)
    head = await store.head_position()
    assert shadow.position < head

    switched = await switch(read_models, store, "order_views", ORDERS)

    assert switched is not None and switched.position == head and switched.generation == 2
    order = await OrderViewQueries(read_models).get(ids[0])
    assert order is not None and order.version == 3
    assert await _table_rows(read_models, "order_views__g2") == await _table_rows(read_models, "order_views__g1")


class _LogShortOfTheHead:
    """The store's log, read as its safe prefix reads it at a gap: the newest event not yet readable."""

    def __init__(self, store: SqlEventStore, hidden: int) -> None:
        self._store, self._hidden = store, hidden

    async def read_log(self, *, after: int, limit: int) -> list[Any]:
        return [event for event in await self._store.read_log(after=after, limit=limit) if event.position < self._hidden]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


async def test_a_shadow_the_log_cannot_bring_to_the_live_position_is_not_switched_yet(
    read_models: ReadModelStore, store: SqlEventStore, commands: CommandBus, bus: InProcessBus, make_runner: RunnerFactory
) -> None:
    ids = await _orders(commands, 4)
    live_runner = make_runner("order_views")
    await _caught_up(live_runner, store)
    await _rebuild(read_models, store, bus).prepare(await _live(read_models))
    shadow = ProjectionRunner(shadow_name("order_views"), ORDERS, read_models, store, InProcessBus(), batch_size=50)
    await shadow.catch_up()
    await commands.dispatch(add_item(ids[0], item("sku-9", 1, "1.00")))
    await commands.dispatch(ship_order(ids[3]))
    await _caught_up(live_runner, store)
    head = await store.head_position()

    assert await switch(read_models, _LogShortOfTheHead(store, hidden=head), "order_views", ORDERS) is None  # type: ignore[arg-type]

    assert (await _live(read_models)).generation == 1  # nothing older than the live rows went live
    assert (await _live(read_models, shadow_name("order_views"))).position == head - 1  # what it applied is kept
    switched = await switch(read_models, store, "order_views", ORDERS)
    assert switched is not None and (switched.position, switched.generation) == (head, 2)
    assert await _table_rows(read_models, "order_views__g2") == await _table_rows(read_models, "order_views__g1")


async def test_a_shadow_too_far_behind_is_not_switched(
    read_models: ReadModelStore, store: SqlEventStore, commands: CommandBus, bus: InProcessBus, make_runner: RunnerFactory
) -> None:
    await _orders(commands, 3)
    await _caught_up(make_runner("order_views"), store)
    await _rebuild(read_models, store, bus).prepare(await _live(read_models))
    assert await switch(read_models, store, "order_views", ORDERS, max_catch_up=2) is None
    assert (await _live(read_models)).generation == 1
    assert (await _live(read_models, shadow_name("order_views"))).position == 0


async def test_a_rerun_resumes_the_shadow_and_a_new_version_starts_it_over(
    read_models: ReadModelStore, store: SqlEventStore, commands: CommandBus, bus: InProcessBus, make_runner: RunnerFactory
) -> None:
    await _orders(commands, 6)
    await _caught_up(make_runner("order_views"), store)
    rebuild = _rebuild(read_models, store, bus)
    await rebuild.prepare(await _live(read_models))
    events = await store.read_log(after=0, limit=5)
    # A shadow runner that got as far as one batch, then was killed.
    partial = _LogUntil(store, events[-1].position)
    await ProjectionRunner(shadow_name("order_views"), ORDERS, read_models, partial, InProcessBus()).catch_up()
    assert (await _live(read_models, shadow_name("order_views"))).position == events[-1].position

    await rebuild.prepare(await _live(read_models))  # a rerun: same generation and version
    resumed = await _live(read_models, shadow_name("order_views"))
    assert (resumed.generation, resumed.position, resumed.start_position) == (2, events[-1].position, events[-1].position)

    status = await get_status(read_models, store, "order_views")
    assert status is not None and status.rebuild is not None
    assert (status.rebuild.generation, status.rebuild.position) == (2, events[-1].position)
    assert status.rebuild.head_position == await store.head_position()

    bumped = replace(ORDERS, version=2)
    await _rebuild(read_models, store, bus, projector=bumped).prepare(await _live(read_models))
    restarted = await _live(read_models, shadow_name("order_views"))
    assert (restarted.generation, restarted.version, restarted.position) == (2, 2, 0)
    async with read_models.reader.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(physical_table(order_views, 2))) == 0


async def test_a_projector_with_a_new_version_rebuilds_and_switches_by_itself(
    read_models: ReadModelStore, store: SqlEventStore, commands: CommandBus, bus: InProcessBus, make_runner: RunnerFactory
) -> None:
    ids = await _orders(commands, 5)
    await _caught_up(make_runner("order_views"), store)
    before = await _table_rows(read_models, "order_views")
    bumped = replace(ORDERS, version=2)
    live_runner = make_runner("order_views", bumped)  # the deploy: new code, the database still at version 1
    await live_runner.start()
    upgrade = VersionUpgrade(_rebuild(read_models, store, bus, projector=bumped))
    await upgrade.start()
    try:
        await asyncio.wait_for(upgrade.finished.wait(), 20)
    finally:
        await upgrade.stop()
    live = await _live(read_models)
    assert (live.generation, live.version) == (2, 2)
    assert await _table_rows(read_models, "order_views") == before
    # The live runner follows on the new generation.
    await commands.dispatch(ship_order(ids[0]))
    head = await store.head_position()
    await eventually(lambda: _at(read_models, head))
    assert live_runner.generation == 2

    again = VersionUpgrade(_rebuild(read_models, store, bus, projector=bumped))  # next start: nothing to do
    await again.start()
    await asyncio.wait_for(again.finished.wait(), 10)
    assert (await _live(read_models)).generation == 2


async def test_readers_on_the_pool_and_on_sqlalchemy_never_fail_across_a_switch(
    read_models: ReadModelStore, store: SqlEventStore, commands: CommandBus, bus: InProcessBus, make_runner: RunnerFactory
) -> None:
    ids = await _orders(commands, 8)
    await _caught_up(make_runner("order_views"), store)
    orders, customers = OrderViewQueries(read_models), CustomerSummaryQueries(read_models)
    first = await orders.get(ids[0])
    assert first is not None
    stop = asyncio.Event()
    answers: list[Any] = []

    async def read() -> None:
        while not stop.is_set():
            row = await read_models.row_by_key(ORDER_ROW, ids[0])  # asyncpg's prepared statement on PostgreSQL
            # One statement on the pool on PostgreSQL (page, total, position), prepared once per connection.
            page = await orders.customer_orders(first.customer_id)
            found = await orders.search(terms=first.order_id, sort_by="total_amount")
            answers.append(
                (row is not None and row["version"], page.total, found.total, await customers.get(first.customer_id))
            )
            await asyncio.sleep(0)

    readers = [asyncio.create_task(read()) for _ in range(3)]
    try:
        for _ in range(2):  # two switches: generation 2, then 3
            await _rebuild(read_models, store, bus).run()
    finally:
        stop.set()
        await asyncio.gather(*readers)  # an error in any read fails the test here
    assert answers and all(answer[:3] == (first.version, 1, 1) for answer in answers)
    assert (await _live(read_models)).generation == 3


async def _at(read_models: ReadModelStore, head: int) -> bool:
    live = await _live(read_models)
    return bool(live.position >= head)


async def test_a_projector_process_started_with_a_new_version_upgrades_its_projection(
    database_url: str, store: SqlEventStore, commands: CommandBus, read_models: ReadModelStore, make_runner: RunnerFactory
) -> None:
    ids = await _orders(commands, 4)
    await _caught_up(make_runner("order_views"), store)
    bumped = {"order_views": replace(ORDERS, version=2), "customer_summaries": PROJECTIONS["customer_summaries"]}
    settings = Settings(database_url=database_url, poll_interval=0.1, run_projectors=True)
    container = build_container(settings, api=False, overrides={"projections": bumped})
    await container.start()
    try:
        await asyncio.wait_for(asyncio.gather(*(upgrade.finished.wait() for upgrade in container.upgrades)), 20)
    finally:
        await container.stop()
    live = await _live(read_models)
    assert (live.generation, live.version) == (2, 2)
    summaries = await _live(read_models, "customer_summaries")
    # its version did not change: not rebuilt
    assert (summaries.generation, summaries.version) == (1, PROJECTIONS["customer_summaries"].version)
    order = await OrderViewQueries(read_models).get(ids[1])
    assert order is not None and order.status.value == "SHIPPED"


class _LogUntil:
    """The event log as it was at a position (the rest not yet written)."""

    def __init__(self, log: SqlEventStore, until: int) -> None:
        self._log = log
        self._until = until

    async def read_log(self, after: int, limit: int) -> list[RecordedEvent]:
        return [event for event in await self._log.read_log(after, limit) if event.position <= self._until]

    async def head_position(self) -> int:
        return self._until


async def test_a_bound_store_reads_and_writes_its_generation_and_the_plain_store_reads_the_live_view(
    read_models: ReadModelStore, store: SqlEventStore, commands: CommandBus, bus: InProcessBus, make_runner: RunnerFactory
) -> None:
    (order_id,) = await _orders(commands, 1)
    await _caught_up(make_runner("order_views"), store)
    live = await _live(read_models)
    await _rebuild(read_models, store, bus).prepare(live)  # generation 2: empty, with its own checkpoint
    g2 = read_models.for_generation(2, generation_tables(ORDERS, 2))
    assert g2.generation == 2 and read_models.generation is None

    assert await g2.row_by_key(ORDER_ROW, order_id) is None
    assert (await read_models.row_by_key(ORDER_ROW, order_id) or {}).get("order_id") == order_id  # the view: g1
    row = {**dict((await read_models.rows_by_key(ORDER_ROW, [order_id]))[0]), "total_minor": 1, "search_text": "x"}
    upsert = Upsert(table=order_views, rows=[row], key=("order_id",), newer="version")
    assert not await g2.commit_batch(shadow_name("order_views"), 1, 2, ProjectionState.RUNNING, [upsert])  # not at 1
    assert await g2.commit_batch(shadow_name("order_views"), 0, live.position, ProjectionState.RUNNING, [upsert])

    assert [r["order_id"] for r in await g2.rows_by_key(ORDER_ROW, [order_id, order_id])] == [order_id]
    assert len(await _table_rows(read_models, "order_views__g2")) == 1
    assert (await _live(read_models)).position == live.position  # the live checkpoint did not move


async def _indexes(read_models: ReadModelStore, table: str) -> set[str]:
    async with read_models.reader.connect() as conn:
        return {index["name"] for index in await conn.run_sync(lambda sync: inspect(sync).get_indexes(table))}


def _secondary_indexes(generation: int) -> set[str]:
    """The generation's order_views indexes this backend has (the trigram index is PostgreSQL's only)."""
    return {str(index.name) for index in physical_table(order_views, generation).indexes}


def _search_indexes(generation: int) -> set[str]:
    """The generation's partial trigram indexes, one per status (PostgreSQL only)."""
    return {object_name(str(index.name), generation) for index in SEARCH_INDEXES.values()}


async def test_the_shadow_fills_with_its_primary_keys_only_and_goes_live_with_every_index(
    read_models: ReadModelStore, store: SqlEventStore, commands: CommandBus, bus: InProcessBus, make_runner: RunnerFactory
) -> None:
    await _orders(commands, 5)
    await _caught_up(make_runner("order_views"), store)
    postgres = read_models.database.is_postgres
    expected = _secondary_indexes(2) - (set() if postgres else _search_indexes(2))
    assert expected and await _indexes(read_models, "order_views__g1") == _secondary_indexes(1) - (
        set() if postgres else _search_indexes(1)
    )
    rebuild = _rebuild(read_models, store, bus)
    await rebuild.prepare(await _live(read_models))
    await ProjectionRunner(shadow_name("order_views"), ORDERS, read_models, store, InProcessBus()).catch_up()
    assert await _indexes(read_models, "order_views__g2") == set()  # filled without them

    # A run killed after building some indexes: the rerun resumes, builds the rest, and switches.
    async with read_models.database.write_engine.begin() as conn:
        await conn.run_sync(lambda sync: next(iter(physical_table(order_views, 2).indexes)).create(sync))
    outcome = await _rebuild(read_models, store, bus).run()

    assert outcome.generation == 2
    assert await _indexes(read_models, "order_views__g2") == expected
    assert await _table_rows(read_models, "order_views") == await _table_rows(read_models, "order_views__g2")


async def test_a_switch_called_on_its_own_never_makes_a_generation_live_without_its_indexes(
    read_models: ReadModelStore, store: SqlEventStore, commands: CommandBus, bus: InProcessBus, make_runner: RunnerFactory
) -> None:
    await _orders(commands, 2)
    await _caught_up(make_runner("order_views"), store)
    await _rebuild(read_models, store, bus).prepare(await _live(read_models))
    assert await _indexes(read_models, "order_views__g2") == set()
    assert await switch(read_models, store, "order_views", ORDERS) is not None
    live_indexes = await _indexes(read_models, "order_views__g1")
    assert await _indexes(read_models, "order_views__g2") == {f"{name}__g2" for name in live_indexes}
