"""Several blue-green rebuilds in one process (projections/rebuild_together.py): each generation holds the
rows of its live projection, the shadows share their reads of the log, and one failing cancels the others,
which resume from their own shadow checkpoints on the next run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields, replace
from typing import Any

import pytest

from domain.command_bus import CommandBus
from domain.ports import RecordedEvent
from eventstore.sql_store import SqlEventStore
from projections.blue_green import BlueGreenRebuild
from projections.checkpoints import read_checkpoint
from projections.read_models import ReadModelStore
from projections.rebuild_together import rebuild_together
from projections.registry import PROJECTIONS
from projections.runner import ProjectionRunner
from tests.projections.conftest import RunnerFactory
from tests.projections.test_runner import visible
from tests.projections.test_shadow_fill import _generation_rows, _random_history, _rebuild


class CountingLog:
    """The store's log, counting the reads that reach it."""

    def __init__(self, store: SqlEventStore) -> None:
        self.store = store
        self.reads = 0

    async def read_log(self, after: int, limit: int) -> Sequence[RecordedEvent]:
        self.reads += 1
        return await self.store.read_log(after, limit)

    async def head_position(self) -> int:
        return await self.store.head_position()


async def _live(
    commands: CommandBus, store: SqlEventStore, make_runner: RunnerFactory, read_models: ReadModelStore
) -> dict[str, Any]:
    await _random_history(commands, 5, orders=25)
    await visible(store)
    for name in PROJECTIONS:
        await make_runner(name, batch_size=1).catch_up()
    return {name: await _generation_rows(read_models, name, 1) for name in PROJECTIONS}


async def test_rebuilt_together_each_generation_holds_the_rows_of_its_live_projection_from_shared_reads(
    commands: CommandBus, store: SqlEventStore, make_runner: RunnerFactory, read_models: ReadModelStore
) -> None:
    live = await _live(commands, store, make_runner, read_models)
    alone = CountingLog(store)
    await replace(_rebuild("order_views", read_models, store), events=alone).run()  # generation 2, for the count
    shared = CountingLog(store)

    outcomes = await rebuild_together([replace(_rebuild(name, read_models, store), events=shared) for name in PROJECTIONS])

    assert [outcome.name for outcome in outcomes] == list(PROJECTIONS)
    for name, outcome in zip(PROJECTIONS, outcomes, strict=True):
        assert await _generation_rows(read_models, name, outcome.generation) == live[name]
    assert shared.reads < len(PROJECTIONS) * alone.reads  # the shadows asked for the same ranges: read once


class GivesUp(BlueGreenRebuild):
    """A rebuild whose fill fails for good (as a vanished shadow checkpoint ends one) once prepared."""

    async def _catch_up(self, shadow: ProjectionRunner) -> None:
        raise LookupError("projection order_views@next has no checkpoint")


async def test_when_one_rebuild_fails_the_others_are_cancelled_and_a_rerun_finishes_them_all(
    commands: CommandBus, store: SqlEventStore, make_runner: RunnerFactory, read_models: ReadModelStore
) -> None:
    live = await _live(commands, store, make_runner, read_models)
    failing = GivesUp(
        **{field.name: getattr(_rebuild("order_views", read_models, store), field.name) for field in fields(BlueGreenRebuild)}
    )

    with pytest.raises(LookupError):  # the failure itself, as a single rebuild raises it
        await rebuild_together([failing, _rebuild("customer_summaries", read_models, store)])
    async with read_models.reader.connect() as conn:
        for name in PROJECTIONS:
            checkpoint = await read_checkpoint(conn, name)
            assert checkpoint is not None and checkpoint.generation == 1  # nothing switched

    outcomes = await rebuild_together([_rebuild(name, read_models, store) for name in PROJECTIONS])
    for name, outcome in zip(PROJECTIONS, outcomes, strict=True):
        assert outcome.generation == 2
        assert await _generation_rows(read_models, name, 2) == live[name]
