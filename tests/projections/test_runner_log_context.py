"""A runner's log lines name its projection and the position of the batch it was applying."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import orjson
import pytest

from domain.command_bus import CommandBus
from eventstore.sql_store import SqlEventStore
from orderly.log_format import JsonFormatter
from projections.checkpoints import ProjectionState
from tests.projections.builders import new_id
from tests.projections.conftest import RunnerFactory, eventually
from tests.projections.test_runner import FlakyProjector, place_orders, visible


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


async def test_a_runner_logs_with_its_projection_and_the_position_of_its_batch(
    commands: CommandBus, store: SqlEventStore, make_runner: RunnerFactory, json_lines: io.StringIO,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    await place_orders(commands, new_id("cust"), 7)
    await visible(store)
    # Twice: the batch at 5 is planned beside the commit of the one before it, fails, and is planned again
    # alone once that commit ended (runner.py); the failure that counts is the second one.
    flaky = FlakyProjector("customer_summaries", position=5, failures=2)
    runner = make_runner("customer_summaries", flaky.projector, batch_size=3)
    await runner.start()
    await eventually(lambda: _running_at(runner, 7))

    lines = [orjson.loads(line) for line in json_lines.getvalue().splitlines()]
    # Logged without extras: the fields come from the runner task's log scope.
    [recovered] = [line for line in lines if "recovered at position" in line["message"]]
    assert recovered["projection"] == "customer_summaries"
    assert recovered["message"].endswith(f"recovered at position {recovered['position']}")  # the batch that recovered
    assert recovered["position"] >= 6
    # With extras (the last good position), the record's own fields win over the scope's.
    failed = next(line for line in lines if "failed after position" in line["message"])
    assert (failed["projection"], failed["position"]) == ("customer_summaries", 3)
    assert "RuntimeError: projector broke on position 5" in failed["exception"]


async def _running_at(runner: object, position: int) -> bool:
    return getattr(runner, "position", 0) >= position and getattr(runner, "state", None) is ProjectionState.RUNNING
