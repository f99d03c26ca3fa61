"""Projection statuses: position, head, lag and state as the contract's ProjectionStatus."""

from __future__ import annotations

from domain.command_bus import CommandBus
from eventstore.database import Database
from eventstore.sql_store import SqlEventStore
from orderly.bootstrap import open_read_models
from projections.status import get_status, projection_statuses
from tests.projections.builders import create_order, new_id
from tests.projections.conftest import RunnerFactory, eventually


async def test_statuses_before_anything_ran(database: Database, store: SqlEventStore, commands: CommandBus) -> None:
    await commands.dispatch(create_order(new_id("order"), new_id("cust")))

    statuses = await projection_statuses(open_read_models(database), store)

    assert [(s.name, s.position, s.head_position, s.lag, s.state, s.last_error) for s in statuses] == [
        ("order_views", 0, 1, 1, "STOPPED", None),
        ("customer_summaries", 0, 1, 1, "STOPPED", None),
    ]


async def test_a_running_projection_has_no_lag(
    database: Database, store: SqlEventStore, commands: CommandBus, make_runner: RunnerFactory
) -> None:
    await commands.dispatch(create_order(new_id("order"), new_id("cust")))
    await commands.dispatch(create_order(new_id("order"), new_id("cust")))
    runner = make_runner("customer_summaries")
    await runner.start()

    async def caught_up() -> bool:
        status = await get_status(open_read_models(database), store, "customer_summaries")
        return status is not None and status.lag == 0 and status.state == "RUNNING"

    await eventually(caught_up)
    status = await get_status(open_read_models(database), store, "customer_summaries")
    assert status is not None and (status.position, status.head_position) == (2, 2)
    assert await get_status(open_read_models(database), store, "no_such_projection") is None
