"""Fixtures of the read-side tests: everything on the shared `database` fixture (migrated, both
backends), through the read-model store the composition root picks for it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import pytest

from domain.command_bus import CommandBus
from domain.ports import RecordedEvent
from eventstore.database import Database
from eventstore.local_bus import InProcessBus
from eventstore.sql_store import SqlEventStore
from orderly.bootstrap import open_event_store, open_read_models
from projections.checkpoints import ProjectionState, ensure_checkpoint, read_checkpoint
from projections.generations import generation_tables
from projections.projector import Projector
from projections.read_models import ReadModelStore
from projections.registry import PROJECTIONS
from projections.runner import ProjectionRunner


@pytest.fixture
def read_models(database: Database) -> ReadModelStore:
    """The read-model store for `database`'s backend, as the composition root picks it."""
    return open_read_models(database)


async def apply_batch(read_models: ReadModelStore, name: str, events: Sequence[RecordedEvent]) -> dict[str, int]:
    """Plan and commit one batch as the runner does (plan, then commit_batch with the checkpoint),
    from wherever the checkpoint is to the batch's last position; {stream_id: version} it reflects."""
    async with read_models.database.write_engine.begin() as conn:
        await ensure_checkpoint(read_models, conn, name)
    async with read_models.reader.connect() as conn:
        checkpoint = await read_checkpoint(conn, name)
    assert checkpoint is not None
    # A runner writes the physical tables of its checkpoint's generation (the logical names are views).
    bound = read_models.for_generation(checkpoint.generation, generation_tables(PROJECTIONS[name], checkpoint.generation))
    changes = await PROJECTIONS[name].plan(bound, events)
    to_position = events[-1].position
    assert await bound.commit_batch(name, checkpoint.position, to_position, ProjectionState.RUNNING, changes.upserts)
    return changes.streams


@pytest.fixture
def bus() -> InProcessBus:
    """The in-process bus the store and runners announce on."""
    return InProcessBus()


@pytest.fixture
def store(database: Database, bus: InProcessBus) -> SqlEventStore:
    """The SQL event store on the shared migrated `database` (both backends)."""
    return open_event_store(database, bus)


@pytest.fixture
def commands(store: SqlEventStore) -> CommandBus:
    """The real write path onto `store`."""
    return CommandBus(store)


RunnerFactory = Callable[..., ProjectionRunner]


@pytest.fixture
async def make_runner(
    read_models: ReadModelStore, store: SqlEventStore, bus: InProcessBus
) -> AsyncIterator[RunnerFactory]:
    """Builds runners on the test's database with fast timings; stops them all afterwards."""
    made: list[ProjectionRunner] = []

    def factory(name: str = "order_views", projector: Projector | None = None, **options: Any) -> ProjectionRunner:
        options = {"poll_interval": 0.05, "retry_base": 0.01, "retry_max": 0.05, **options}
        runner = ProjectionRunner(
            name,
            PROJECTIONS[name] if projector is None else projector,
            options.pop("read_models", read_models),
            options.pop("store", store),
            options.pop("bus", bus),
            **options,
        )
        made.append(runner)
        return runner

    try:
        yield factory
    finally:
        for runner in made:
            await runner.stop()


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 60.0, interval: float = 0.01) -> None:
    """Wait until check() is true; fail after timeout seconds (a bound on a hang, not a deadline:
    under load, PostgreSQL shows a commit to read_log only once older transactions end)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            pytest.fail(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)
