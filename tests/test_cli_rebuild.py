"""`orderly rebuild NAME` as an operator uses it: blue-green by default (with its progress, also in
`orderly status` and the `projections` query), and --in-place, the stop-the-world rebuild's door."""

from __future__ import annotations

import io
import logging
import sys

from rich.console import Console

from domain.command_bus import CommandBus
from eventstore.database import Database
from eventstore.local_bus import InProcessBus
from orderly.bootstrap import open_event_store, open_read_models
from orderly.rebuild_progress import RebuildProgressBar
from projections.blue_green import BlueGreenRebuild
from projections.checkpoints import Checkpoint, ProjectionState, ensure_checkpoint, read_checkpoint
from projections.customer_summaries.queries import CustomerSummaryQueries
from projections.order_views.queries import OrderViewQueries
from projections.read_models import ReadModelStore
from projections.registry import PROJECTIONS
from projections.runner import ProjectionRunner
from projections.status import RebuildProgress
from tests.projections.builders import create_order, item, new_id
from tests.projections.conftest import eventually
from tests.test_cli import orderly


async def test_in_place_empties_the_read_model_and_moves_its_checkpoint_to_zero(database: Database, database_url: str) -> None:
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


async def test_blue_green_by_default_switches_to_a_new_generation_and_says_so(database: Database, database_url: str) -> None:
    read_models, bus = open_read_models(database), InProcessBus()
    store = open_event_store(database, bus)
    order_id, customer_id = new_id("order"), new_id("cust")
    await CommandBus(store).dispatch(create_order(order_id, customer_id, item()))
    runner = ProjectionRunner("customer_summaries", PROJECTIONS["customer_summaries"], read_models, store, bus)
    await runner.catch_up()
    summaries = CustomerSummaryQueries(read_models)
    before = await summaries.get(customer_id)

    rebuilt = orderly("rebuild", "customer_summaries", "--database-url", database_url)

    assert rebuilt.returncode == 0, rebuilt.stderr
    head = await store.head_position()
    version = PROJECTIONS["customer_summaries"].version
    assert f"projection customer_summaries switched to generation 2 (version {version}) at position {head}" in rebuilt.stdout
    assert "generation 1 dropped" in rebuilt.stdout
    async with read_models.reader.connect() as conn:
        checkpoint = await read_checkpoint(conn, "customer_summaries")
    assert checkpoint is not None and (checkpoint.generation, checkpoint.position) == (2, head)
    assert before is not None and await summaries.get(customer_id) == before


async def test_several_names_are_rebuilt_in_one_run_and_each_says_so(database: Database, database_url: str) -> None:
    read_models, bus = open_read_models(database), InProcessBus()
    store = open_event_store(database, bus)
    order_id, customer_id = new_id("order"), new_id("cust")
    await CommandBus(store).dispatch(create_order(order_id, customer_id, item()))
    for name in PROJECTIONS:
        await ProjectionRunner(name, PROJECTIONS[name], read_models, store, bus).catch_up()
    before = (await OrderViewQueries(read_models).get(order_id), await CustomerSummaryQueries(read_models).get(customer_id))

    rebuilt = orderly("rebuild", "order_views", "customer_summaries", "--database-url", database_url)

    assert rebuilt.returncode == 0, rebuilt.stderr
    head = await store.head_position()
    for name in ("order_views", "customer_summaries"):
        switched = f"projection {name} switched to generation 2 (version {PROJECTIONS[name].version}) at position {head}"
        assert switched in rebuilt.stdout
        async with read_models.reader.connect() as conn:
            checkpoint = await read_checkpoint(conn, name)
        assert checkpoint is not None and (checkpoint.generation, checkpoint.position) == (2, head)
    after = (await OrderViewQueries(read_models).get(order_id), await CustomerSummaryQueries(read_models).get(customer_id))
    assert None not in before and after == before


async def test_status_shows_a_rebuild_under_way(database: Database, database_url: str) -> None:
    read_models, bus = open_read_models(database), InProcessBus()
    store = open_event_store(database, bus)
    await CommandBus(store).dispatch(create_order(new_id("order"), new_id("cust"), item()))
    rebuild = BlueGreenRebuild(name="order_views", projector=PROJECTIONS["order_views"], read_models=read_models, events=store)
    async with read_models.database.write_engine.begin() as conn:
        await ensure_checkpoint(read_models, conn, "order_views")
    await rebuild.prepare(await _checkpoint(read_models, "order_views"))  # a rebuild that has just begun

    status = orderly("status", "--database-url", database_url)

    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    at = next(index for index, line in enumerate(lines) if line.startswith("order_views "))
    head = await store.head_position()
    assert lines[at + 1].strip() == f"rebuilding generation 2 (version 1): 0/{head}, -, ETA -"


def test_the_progress_bar_shows_position_head_rate_and_eta() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    progress = RebuildProgress(
        generation=2,
        version=3,
        position=250_000,
        head_position=1_000_000,
        events_per_second=50_000.0,
        eta_seconds=15.0,
        started_at=None,
    )
    with RebuildProgressBar("order_views", console) as bar:
        bar.show(progress)
    shown = console.file.getvalue()  # type: ignore[attr-defined]
    for text in ("order_views g2", "250,000/1,000,000", "50,000 events/s", "ETA 0:00:15"):
        assert text in shown
    plain = Console(file=io.StringIO(), force_terminal=False)
    with RebuildProgressBar("order_views", plain) as bar:
        bar.show(progress)
    assert plain.file.getvalue() == (  # type: ignore[attr-defined]
        "rebuild order_views: generation 2 (version 3): 250,000/1,000,000, 50,000 events/s, ETA 0:00:15\n"
    )


def test_log_lines_print_above_the_bar_instead_of_inside_it() -> None:
    screen = io.StringIO()
    original = sys.stderr
    handler = logging.StreamHandler(original)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with RebuildProgressBar("order_views", Console(file=screen, force_terminal=True, width=100)):
            assert handler.stream is sys.stderr and sys.stderr is not original  # rich's proxy while the bar is live
            logging.getLogger("projections.switch").warning("projection order_views switched to generation 2")
        assert handler.stream is original and sys.stderr is original
    finally:
        root.removeHandler(handler)
    assert "projection order_views switched to generation 2" in screen.getvalue()


def test_an_unknown_projection_is_refused() -> None:
    result = orderly("rebuild", "no_such_projection", "--in-place")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr and "order_views" in result.stderr


async def _checkpoint(read_models: ReadModelStore, name: str) -> Checkpoint:
    async with read_models.reader.connect() as conn:
        checkpoint = await read_checkpoint(conn, name)
    assert checkpoint is not None
    return checkpoint


async def _caught_up(runner: ProjectionRunner, head: int) -> bool:
    await runner.catch_up()
    return runner.position >= head
