"""`orderly rebuild NAME --in-place` as an operator uses it: the stop-the-world rebuild's door."""

from __future__ import annotations

from domain.command_bus import CommandBus
from eventstore.database import Database
from eventstore.local_bus import InProcessBus
from orderly.bootstrap import open_event_store, open_read_models
from projections.checkpoints import ProjectionState, read_checkpoint
from projections.customer_summaries.queries import CustomerSummaryQueries
from projections.order_views.queries import OrderViewQueries
from projections.registry import PROJECTIONS
from projections.runner import ProjectionRunner
from tests.projections.builders import create_order, item, new_id
from tests.projections.conftest import eventually
from tests.test_cli import orderly


async def test_in_place_empties_the_read_model_and_moves_its_checkpoint_to_zero(
    database: Database, database_url: str
) -> None:
    read_models, bus = open_read_models(database), InProcessBus()
    store = open_event_store(database, bus)
    order_id, customer_id = new_id("order"), new_id("cust")
    await CommandBus(store).dispatch(create_order(order_id, customer_id, item()))
    runners = [ProjectionRunner(name, PROJECTIONS[name], read_models, store, bus) for name in PROJECTIONS]
    head = await store.head_position()
    for runner in runners:
        await eventually(lambda runner=runner: _caught_up(runner, head))
    orders = OrderViewQueries(read_models)
    assert await orders.get(order_id) is not None

    rebuilt = orderly("rebuild", "order_views", "--in-place", "--database-url", database_url)

    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "order_views reset to position 0" in rebuilt.stdout
    async with read_models.reader.connect() as conn:
        checkpoint = await read_checkpoint(conn, "order_views")
        untouched = await read_checkpoint(conn, "customer_summaries")
    assert checkpoint is not None and (checkpoint.position, checkpoint.state) == (0, ProjectionState.REBUILDING)
    assert untouched is not None and untouched.position == head
    assert await orders.get(order_id) is None
    assert await CustomerSummaryQueries(read_models).get(customer_id) is not None  # another projection's rows stay
    status = orderly("status", "--database-url", database_url)
    assert any(line.split()[:3] == ["order_views", "REBUILDING", "0"] for line in status.stdout.splitlines())

    # A projector replays the log into the emptied read model.
    assert await runners[0].catch_up() >= 1
    view = await orders.get(order_id)
    assert view is not None and view.version == 1


def test_without_in_place_it_says_what_exists_and_changes_nothing() -> None:
    result = orderly("rebuild", "order_views", "--database-url", "sqlite:///nowhere/never.db")
    assert result.returncode == 2
    assert "blue-green rebuild" in result.stderr and "not available yet" in result.stderr
    assert "--in-place is the stop-the-world rebuild" in result.stderr


def test_an_unknown_projection_is_refused() -> None:
    result = orderly("rebuild", "no_such_projection", "--in-place")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr and "order_views" in result.stderr


async def _caught_up(runner: ProjectionRunner, head: int) -> bool:
    await runner.catch_up()
    return runner.position >= head
