"""The shadow fill's commit (projections/postgres_shadow_fill.py): new rows by COPY, the rest upserted, the
checkpoint in the same transaction. Rebuilt rows equal the live projection's on generated histories; a
batch that dies before COMMIT leaves neither rows nor checkpoint, and the rerun resumes to the same rows."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from sqlalchemy import text

from domain.command_bus import CommandBus
from eventstore.local_bus import InProcessBus
from eventstore.sql_store import SqlEventStore
from projections import postgres_shadow_fill
from projections.blue_green import BlueGreenRebuild
from projections.changes import Upsert
from projections.checkpoints import ProjectionState, read_checkpoint, shadow_name
from projections.customer_summaries.projector import PROJECTOR as CUSTOMER_SUMMARIES
from projections.customer_summaries.tables import FACT_ROW
from projections.generations import generation_tables, physical_name
from projections.postgres_read_models import PostgresReadModels
from projections.postgres_shadow_fill import PostgresShadowFill, shadow_fill
from projections.read_models import ReadModelStore
from projections.registry import PROJECTIONS
from tests.projections.builders import add_item, cancel_order, create_order, item, new_id, ship_order
from tests.projections.conftest import RunnerFactory
from tests.projections.test_read_model_store import NAME, fact, facts, position, started
from tests.projections.test_runner import visible

postgres_only = pytest.mark.parametrize("backend", ["postgres"])  # the COPY fill is PostgreSQL's


async def _random_history(commands: CommandBus, seed: int, orders: int) -> None:
    """Orders of a few customers, their later events interleaved in a random order."""
    chance = random.Random(seed)
    customers = [new_id("cust") for _ in range(chance.randint(1, 4))]
    pending: list[tuple[str, list[Any]]] = []
    for index in range(orders):
        order_id = new_id("order")
        steps: list[Any] = [
            add_item(order_id, item(f"p{n}", n + 1, f"{chance.randint(1, 99)}.{n}5")) for n in range(chance.randint(0, 3))
        ]
        ending = chance.choice([None, "ship", "cancel"])
        if ending == "ship":
            steps.append(ship_order(order_id))
        elif ending == "cancel":
            steps.append(cancel_order(order_id, "changed my mind"))
        await commands.dispatch(create_order(order_id, chance.choice(customers), item("a", 1, f"{index}.10")))
        pending.append((order_id, steps))
        while pending and chance.random() < 0.6:
            order_id, steps = pending[chance.randrange(len(pending))]
            if steps:
                await commands.dispatch(steps.pop(0))
            else:
                pending.remove((order_id, steps))
    for _, steps in pending:
        for step in steps:
            await commands.dispatch(step)


async def _generation_rows(read_models: ReadModelStore, name: str, generation: int) -> dict[str, list[tuple[Any, ...]]]:
    async with read_models.reader.connect() as conn:
        return {
            table.name: [
                tuple(row)
                for row in await conn.execute(text(f'SELECT * FROM "{physical_name(table.name, generation)}" ORDER BY 1'))
            ]
            for table in PROJECTIONS[name].tables
        }


def _rebuild(name: str, read_models: ReadModelStore, store: SqlEventStore, **options: Any) -> BlueGreenRebuild:
    options = {"batch_size": 3, "max_batch_size": 12, "retry_base": 0.01, "retry_max": 0.02, **options}
    return BlueGreenRebuild(
        name=name, projector=PROJECTIONS[name], read_models=read_models, events=store, bus=InProcessBus(), **options
    )


def test_the_fill_copies_on_postgresql_only(read_models: ReadModelStore) -> None:
    filled = shadow_fill(read_models)
    assert isinstance(filled, PostgresShadowFill) == isinstance(read_models, PostgresReadModels)
    assert shadow_fill(filled) is filled


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("name", list(PROJECTIONS))
async def test_a_rebuilt_generation_holds_the_rows_of_the_live_projection(
    name: str, seed: int, commands: CommandBus, store: SqlEventStore, make_runner: RunnerFactory, read_models: ReadModelStore
) -> None:
    await _random_history(commands, seed, orders=25)
    await visible(store)
    await make_runner(name, batch_size=1).catch_up()  # the live generation: a plain fold, one event per batch
    live = await _generation_rows(read_models, name, 1)

    outcome = await _rebuild(name, read_models, store).run()

    assert outcome.generation == 2
    assert await _generation_rows(read_models, name, 2) == live


class _DiesBeforeCommit(PostgresShadowFill):
    """A fill killed in the middle of a batch, once armed: after its first rows were written, before COMMIT."""

    armed = False

    async def _write(self, conn: Any, change: Upsert, seen: Any) -> None:
        await super()._write(conn, change, seen)
        if self.armed:
            raise ConnectionResetError("killed")


@postgres_only
@pytest.mark.parametrize("name", list(PROJECTIONS))
async def test_a_batch_killed_before_commit_leaves_no_rows_and_the_rerun_resumes_to_the_same_rows(
    name: str, commands: CommandBus, store: SqlEventStore, make_runner: RunnerFactory, read_models: ReadModelStore
) -> None:
    assert isinstance(read_models, PostgresReadModels)
    await _random_history(commands, 7, orders=20)
    await visible(store)
    await make_runner(name, batch_size=1).catch_up()
    live = await _generation_rows(read_models, name, 1)
    rebuild = _rebuild(name, read_models, store)
    async with read_models.database.write_engine.begin() as conn:
        before = await read_checkpoint(conn, name)
    assert before is not None
    await rebuild.prepare(before)

    dying = _DiesBeforeCommit(
        read_models.database, reader=read_models.reader, generation=2, tables=generation_tables(PROJECTIONS[name], 2)
    )
    shadow = shadow_name(name)
    first = await store.read_log(after=0, limit=3)
    assert await dying.commit_batch(
        shadow, 0, first[-1].position, ProjectionState.CATCHING_UP, (await PROJECTIONS[name].plan(dying, first)).upserts
    )
    rows_after_one = await _generation_rows(read_models, name, 2)
    second = await store.read_log(after=first[-1].position, limit=40)
    changes = await PROJECTIONS[name].plan(dying, second)
    dying.armed = True
    with pytest.raises(ConnectionResetError):
        await dying.commit_batch(shadow, first[-1].position, second[-1].position, ProjectionState.CATCHING_UP, changes.upserts)

    async with read_models.reader.connect() as conn:
        checkpoint = await read_checkpoint(conn, shadow)
    assert checkpoint is not None and checkpoint.position == first[-1].position
    assert await _generation_rows(read_models, name, 2) == rows_after_one

    await rebuild.run()  # resumes at the committed checkpoint
    assert await _generation_rows(read_models, name, 2) == live


@postgres_only
async def test_rows_the_shadow_has_are_upserted_under_their_guard_and_new_ones_copied(read_models: ReadModelStore) -> None:
    assert isinstance(read_models, PostgresReadModels)
    store = shadow_fill(read_models).for_generation(1, generation_tables(CUSTOMER_SUMMARIES, 1))
    await started(store)
    assert await store.commit_batch(NAME, 0, 1, ProjectionState.RUNNING, [facts(fact("o-1", 3), fact("o-2", 1))])
    # o-1 older: kept as it is; o-2 newer: replaced; o-3 new: copied.
    newer = [facts(fact("o-1", 2, "older"), fact("o-2", 2, "newer"), fact("o-3", 1))]
    assert await store.commit_batch(NAME, 1, 2, ProjectionState.RUNNING, newer)
    assert not await store.commit_batch(NAME, 1, 3, ProjectionState.RUNNING, [facts(fact("o-9", 1))])  # moved on
    rows = await store.rows_by_key(FACT_ROW, ["o-1", "o-2", "o-3", "o-9"])
    assert sorted((row["order_id"], row["version"], row["customer_id"]) for row in rows) == [
        ("o-1", 3, "c-1"),
        ("o-2", 2, "newer"),
        ("o-3", 1, "c-1"),
    ]
    assert await position(store) == 2


@postgres_only
async def test_what_a_plan_read_is_forgotten_at_each_commit_so_a_rival_s_row_is_never_copied_again(
    read_models: ReadModelStore,
) -> None:
    assert isinstance(read_models, PostgresReadModels)
    tables = generation_tables(CUSTOMER_SUMMARIES, 1)
    store = shadow_fill(read_models).for_generation(1, tables)
    rival = read_models.for_generation(1, tables)
    await started(store)
    assert await store.rows_by_key(FACT_ROW, ["o-1"]) == []  # the plan saw no o-1 ...
    assert await rival.commit_batch(NAME, 0, 1, ProjectionState.RUNNING, [facts(fact("o-1", 1))])  # ... then a rival wrote it

    assert not await store.commit_batch(NAME, 0, 2, ProjectionState.RUNNING, [facts(fact("o-1", 2))])  # void, not a COPY
    assert await store.commit_batch(NAME, 1, 2, ProjectionState.RUNNING, [facts(fact("o-1", 2, "c-2"))])  # asks again
    [row] = await store.rows_by_key(FACT_ROW, ["o-1"])
    assert (row["version"], row["customer_id"]) == (2, "c-2")


@postgres_only
async def test_rows_the_plan_read_are_not_asked_for_again(read_models: ReadModelStore, monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(read_models, PostgresReadModels)
    store = shadow_fill(read_models).for_generation(1, generation_tables(CUSTOMER_SUMMARIES, 1))
    await started(store)
    assert await store.commit_batch(NAME, 0, 1, ProjectionState.RUNNING, [facts(fact("o-1", 1))])
    await store.rows_by_key(FACT_ROW, ["o-1", "o-2"])

    def asked(*_: object) -> str:
        raise AssertionError("a key the plan read was asked for again")

    monkeypatch.setattr(postgres_shadow_fill, "_present", asked)
    assert await store.commit_batch(NAME, 1, 2, ProjectionState.RUNNING, [facts(fact("o-1", 2), fact("o-2", 1))])
    assert sorted((row["order_id"], row["version"]) for row in await store.rows_by_key(FACT_ROW, ["o-1", "o-2"])) == [
        ("o-1", 2),
        ("o-2", 1),
    ]


@postgres_only
async def test_rows_the_fill_committed_are_not_asked_for_again_until_a_batch_fails(
    read_models: ReadModelStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(read_models, PostgresReadModels)
    store = shadow_fill(read_models).for_generation(1, generation_tables(CUSTOMER_SUMMARIES, 1))
    await started(store)
    assert await store.commit_batch(NAME, 0, 1, ProjectionState.RUNNING, [facts(fact("o-1", 1))])  # copied
    asked: list[list[str]] = []
    present = postgres_shadow_fill._present

    def asking(table: str, key: str) -> str:
        asked.append([table, key])
        return present(table, key)

    monkeypatch.setattr(postgres_shadow_fill, "_present", asking)
    # Planned beside the commit (pending_rows.py): o-1 was never read, yet it is known to be there.
    assert await store.commit_batch(NAME, 1, 2, ProjectionState.RUNNING, [facts(fact("o-1", 2))])
    assert asked == []

    class Killed(Exception):
        pass

    async def dies(*_: object) -> None:
        raise Killed

    monkeypatch.setattr(store, "_write", dies)
    with pytest.raises(Killed):
        await store.commit_batch(NAME, 2, 3, ProjectionState.RUNNING, [facts(fact("o-1", 3))])
    monkeypatch.undo()
    monkeypatch.setattr(postgres_shadow_fill, "_present", asking)
    assert await store.commit_batch(NAME, 2, 3, ProjectionState.RUNNING, [facts(fact("o-1", 3))])
    assert len(asked) == 1  # forgotten with the failed batch: asked again, then upserted
    [row] = await store.rows_by_key(FACT_ROW, ["o-1"])
    assert row["version"] == 3


@postgres_only
async def test_a_read_that_ran_while_a_batch_was_voided_is_not_remembered(
    read_models: ReadModelStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(read_models, PostgresReadModels)
    tables = generation_tables(CUSTOMER_SUMMARIES, 1)
    store = shadow_fill(read_models).for_generation(1, tables)
    rival = read_models.for_generation(1, tables)
    await started(store)
    read, resume = asyncio.Event(), asyncio.Event()
    original = PostgresReadModels.rows_by_key

    async def slow_read(self: PostgresReadModels, query: Any, values: Any) -> Any:
        rows = await original(self, query, values)
        read.set()
        await resume.wait()
        return rows

    monkeypatch.setattr(PostgresReadModels, "rows_by_key", slow_read)
    reading = asyncio.ensure_future(store.rows_by_key(FACT_ROW, ["o-1"]))  # a plan beside a commit: finds no o-1 ...
    await read.wait()
    assert await rival.commit_batch(NAME, 0, 1, ProjectionState.RUNNING, [facts(fact("o-1", 1))])
    assert not await store.commit_batch(NAME, 0, 2, ProjectionState.RUNNING, [])  # ... the commit it went with is void
    resume.set()
    assert await reading == []

    assert await store.commit_batch(NAME, 1, 2, ProjectionState.RUNNING, [facts(fact("o-1", 2, "c-2"))])  # asks again
    [row] = await store.rows_by_key(FACT_ROW, ["o-1"])
    assert (row["version"], row["customer_id"]) == (2, "c-2")
