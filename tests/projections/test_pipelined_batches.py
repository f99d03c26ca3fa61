"""Batch N+1 is planned while batch N commits (projections/runner.py, pending_rows.py), on SQLite and
PostgreSQL: N+1's plan sees N's rows before they are committed, a commit that fails or finds the checkpoint
moved throws N+1's plan away (the next commit starts where the checkpoint is), and the rows equal a fold one
event at a time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import pytest

from domain.command_bus import CommandBus
from domain.ports import RecordedEvent
from eventstore.sql_store import SqlEventStore
from projections.changes import BatchChanges, Upsert
from projections.checkpoints import ProjectionState
from projections.customer_summaries.tables import FACT_ROW
from projections.order_views.tables import ORDER_ROW, order_views
from projections.pending_rows import PendingRows
from projections.projector import Projector
from projections.read_models import KeyedRows, KeyedSelect, ReadModelStore
from projections.rebuild import rebuild
from projections.registry import PROJECTIONS
from tests.projections.conftest import RunnerFactory
from tests.projections.test_growing_batches import _history, _rows
from tests.projections.test_runner import visible


class StoreRows:
    """KeyedRows of a fixed set of rows, remembering the keys asked for."""

    def __init__(self, rows: Mapping[str, Mapping[str, Any]]) -> None:
        self.rows = rows
        self.asked: list[list[str]] = []

    async def rows_by_key(self, query: KeyedSelect, values: Sequence[str]) -> list[Mapping[str, Any]]:
        self.asked.append(list(values))
        return [self.rows[value] for value in values if value in self.rows]


def _view(order_id: str, version: int) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "customer_id": "c-1",
        "status": "CREATED",
        "items": [{"product_id": "a", "quantity": 1}],
        "item_count": 1,
        "total_amount": "1.00",
        "total_minor": 100,
        "shipping_address": {"city": "X"},
        "created_at": None,
        "shipped_at": None,
        "cancelled_at": None,
        "cancel_reason": None,
        "version": version,
        "position": version,
        "search_text": "x",
    }


async def test_pending_rows_answer_for_the_batch_being_committed_and_the_store_for_the_rest() -> None:
    store = StoreRows({"o-2": {"order_id": "o-2", "version": 7}})
    pending = PendingRows(store)
    held = _view("o-1", 3)
    pending.hold([Upsert(table=order_views, rows=[held], key=("order_id",), newer="version")])

    rows = await pending.rows_by_key(ORDER_ROW, ["o-1", "o-2", "o-1"])

    assert store.asked == [["o-2"]]  # the held row is not asked for
    first, second = rows
    assert set(first) == set(ORDER_ROW.columns)  # as the store reads it: without the sort and search helpers
    assert (first["version"], second["version"]) == (3, 7)
    first["items"].append({"product_id": "b"})  # a fold changing what it read ...
    assert held["items"] == [{"product_id": "a", "quantity": 1}]  # ... does not change the row being committed
    assert await pending.rows_by_key(FACT_ROW, ["o-1"]) == []  # another table: the store's
    pending.clear()
    assert await pending.rows_by_key(ORDER_ROW, ["o-1"]) == []
    assert store.asked[-1] == ["o-1"]


class GatedCommits:
    """A read-model store whose commits can be held back, made to fail or to lose their compare-and-set."""

    def __init__(self, store: ReadModelStore, shared: GatedCommits | None = None) -> None:
        self._store = store
        self._shared = shared or self
        self.hold: Callable[[int, int], Awaitable[None]] | None = None  # awaited with (from, to) before a commit
        self.started: list[tuple[int, int]] = []
        self.committed: list[tuple[int, int]] = []
        self.fail: dict[int, BaseException | None] = {}  # from_position -> error to raise (None: lose the compare-and-set)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def for_generation(self, generation: int, tables: Any) -> GatedCommits:
        return GatedCommits(self._store.for_generation(generation, tables), self._shared)

    async def commit_batch(
        self, name: str, from_position: int, to_position: int, state: ProjectionState, upserts: Sequence[Upsert]
    ) -> bool:
        shared = self._shared
        shared.started.append((from_position, to_position))
        if shared.hold is not None:
            await shared.hold(from_position, to_position)
        if from_position in shared.fail:
            error = shared.fail.pop(from_position)
            if error is not None:
                raise error
            return False
        if not await self._store.commit_batch(name, from_position, to_position, state, upserts):
            return False
        shared.committed.append((from_position, to_position))
        return True


class PlanLog:
    """A projector's plan, noting for each batch how many commits had finished when it was planned."""

    def __init__(self, name: str, commits: GatedCommits) -> None:
        self.projector = PROJECTIONS[name]
        self.commits = commits
        self.planned: list[tuple[int, int]] = []  # (first position, commits finished so far)

    async def plan(self, reader: KeyedRows, events: Sequence[RecordedEvent]) -> BatchChanges:
        self.planned.append((events[0].position, len(self.commits.committed)))
        return await self.projector.plan(reader, events)

    def as_projector(self) -> Projector:
        return Projector(plan=self.plan, tables=self.projector.tables, version=self.projector.version)

    async def until_planned_after(self, position: int) -> None:
        """Until a batch after `position` was planned; gives up after a while (a runner that plans nothing
        beside a commit never gets there, and the test's assertions then fail)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                while not any(first > position for first, _ in self.planned):
                    await asyncio.sleep(0.005)


@pytest.mark.parametrize("name", list(PROJECTIONS))
async def test_the_next_batch_is_planned_while_the_one_before_it_commits_and_the_rows_equal_a_plain_fold(
    name: str, read_models: ReadModelStore, commands: CommandBus, store: SqlEventStore, make_runner: RunnerFactory
) -> None:
    await _history(commands, 9)  # every order's events span several batches
    await visible(store)
    assert await make_runner(name, batch_size=1).catch_up() == 24  # one event at a time: nothing beside a commit
    plain = await _rows(read_models, name)
    await rebuild(read_models, name)

    commits = GatedCommits(read_models)
    plans = PlanLog(name, commits)
    head = await store.head_position()

    async def hold(_: int, to_position: int) -> None:  # each commit waits for the next batch's plan
        if to_position < head:
            await plans.until_planned_after(to_position)

    commits.hold = hold
    runner = make_runner(name, projector=plans.as_projector(), read_models=commits, batch_size=2, max_batch_size=4)
    assert await runner.catch_up() == 24

    # Batches of 2, 4, 4, ...: each one after the first is planned before the commit of the one before it ends.
    assert [committed for _, committed in plans.planned] == [0, *range(len(plans.planned) - 1)]
    assert await _rows(read_models, name) == plain


@pytest.mark.parametrize("outcome", ["error", "lost"])
@pytest.mark.parametrize("name", list(PROJECTIONS))
async def test_a_commit_that_fails_throws_away_the_plan_made_beside_it(
    name: str,
    outcome: str,
    read_models: ReadModelStore,
    commands: CommandBus,
    store: SqlEventStore,
    make_runner: RunnerFactory,
) -> None:
    await _history(commands, 9)
    await visible(store)
    assert await make_runner(name, batch_size=1).catch_up() == 24
    plain = await _rows(read_models, name)
    await rebuild(read_models, name)

    commits = GatedCommits(read_models)
    plans = PlanLog(name, commits)
    failing_from = 2 + 4  # the third batch (after 2, then 4 events) fails or finds the checkpoint moved
    commits.fail[failing_from] = ConnectionResetError("killed") if outcome == "error" else None

    async def hold(from_position: int, to_position: int) -> None:  # the failing commit ends after the next plan
        if from_position == failing_from:
            await plans.until_planned_after(to_position)

    commits.hold = hold
    runner = make_runner(name, projector=plans.as_projector(), read_models=commits, batch_size=2, max_batch_size=4)
    if outcome == "error":
        with pytest.raises(ConnectionResetError):
            await runner.catch_up()
        assert await runner.catch_up() == 24 - failing_from  # the retry starts at the checkpoint
    else:
        assert await runner.catch_up() == 24  # the lost batch is planned again from the checkpoint, counted once

    assert any(first > failing_from + 4 for first, _ in plans.planned)  # a batch was planned beside the failing one
    # ... and thrown away: the commit after the failed one starts at the checkpoint, every batch commits once, in order.
    starts = [start for start, _ in commits.started]
    assert starts[starts.index(failing_from) + 1] == failing_from
    committed = [start for start, _ in commits.committed]
    assert committed == sorted(set(committed))
    assert await _rows(read_models, name) == plain
