"""On PostgreSQL, every process reports the same read side, read from the database at scrape time:
two API apps on one database agree on the lag while no projector runs, and a separate
`orderly project` process (metrics on ORDERLY_METRICS_PORT) agrees with them once it caught up."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path

import asyncpg
import httpx
import pytest

from orderly.metrics_settings import MetricsSettings
from tests.api.operations import CREATE, order_input
from tests.metrics.scrape import Samples, parse, scrape, value
from tests.support.processes import OrderlyProcess
from tests.support.redis_server import free_port
from tests.support.server import RunningServer, running_server, server_settings

pytestmark = pytest.mark.postgres

PROJECTIONS = ("order_views", "customer_summaries")


def read_side(samples: Samples) -> dict[str, float]:
    """The database-derived series that every process must agree on."""
    seen = {"head": value(samples, "orderly_event_log_head_position", default=-1)}
    for name in PROJECTIONS:
        seen[f"{name} position"] = value(samples, "orderly_projection_position", default=-1, projection=name)
        seen[f"{name} lag"] = value(samples, "orderly_projection_lag_events", default=-1, projection=name)
    return seen


async def scrape_projector(http: httpx.AsyncClient, url: str, timeout: float = 30.0) -> Samples:
    """The projector process's metrics once it has caught up (it starts and catches up on its own time)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            response = await http.get(url)
        except httpx.TransportError:
            response = None
        if response is not None and response.status_code == 200:
            samples = parse(response.text)
            if all(value(samples, "orderly_projection_lag_events", default=-1, projection=n) == 0 for n in PROJECTIONS):
                return samples
        assert loop.time() < deadline, "the projector process did not catch up"
        await asyncio.sleep(0.1)


async def test_api_and_projector_processes_report_the_same_lag(postgres_url: str, tmp_path: Path) -> None:
    settings = server_settings(postgres_url, run_projectors=False, metrics=MetricsSettings(enabled=True))
    async with AsyncExitStack() as stack:
        first: RunningServer = await stack.enter_async_context(running_server(settings))
        second: RunningServer = await stack.enter_async_context(running_server(settings))
        for _ in range(3):
            await first.gql.data(CREATE, {"input": order_input()})

        lagging = [await scrape(api.http, f"{api.base_url}/metrics") for api in (first, second)]
        assert read_side(lagging[0]) == read_side(lagging[1])
        head = value(lagging[0], "orderly_event_log_head_position")
        assert head >= 3
        for samples in lagging:
            for name in PROJECTIONS:
                assert value(samples, "orderly_projection_lag_events", projection=name) == head
                assert value(samples, "orderly_projection_lag_seconds", projection=name) > 0

        port = free_port()
        projector = OrderlyProcess(
            ["project"],
            {"ORDERLY_DATABASE_URL": postgres_url, "ORDERLY_METRICS_PORT": str(port), "ORDERLY_POLL_INTERVAL": "0.2"},
            tmp_path,
            "projector",
        )
        projector.start()
        stack.callback(projector.stop)
        caught_up = await scrape_projector(first.http, f"http://127.0.0.1:{port}/metrics")
        assert projector.alive, projector.log()
        assert value(caught_up, "orderly_projection_batch_events_sum", projection="order_views") == head
        for api in (first, second):
            answered = await scrape(api.http, f"{api.base_url}/metrics")
            assert read_side(answered) == read_side(caught_up)
            for name in PROJECTIONS:
                assert value(answered, "orderly_projection_lag_seconds", projection=name) == 0


async def test_parked_streams_are_counted_per_projection(postgres_url: str) -> None:
    settings = server_settings(postgres_url, run_projectors=False, metrics=MetricsSettings(enabled=True))
    async with running_server(settings) as api:
        url = f"{api.base_url}/metrics"
        before = await scrape(api.http, url)
        assert value(before, "orderly_parked_streams", default=-1, projection="order_views") == 0
        connection = await asyncpg.connect(postgres_url)
        try:
            for projection, stream in (("order_views", "o-1"), ("order_views", "o-2"), ("customer_summaries", "o-1")):
                await connection.execute(
                    "INSERT INTO parked_streams (projection, stream_id, version, position, event_type, event_id,"
                    " error, attempts, parked_at) VALUES ($1, $2, 1, 1, 'order.created', $3, 'boom', 1, now())",
                    projection,
                    stream,
                    f"{projection}-{stream}",
                )
        finally:
            await connection.close()
        samples = await scrape(api.http, url)
    assert value(samples, "orderly_parked_streams", default=-1, projection="order_views") == 2
    assert value(samples, "orderly_parked_streams", default=-1, projection="customer_summaries") == 1
