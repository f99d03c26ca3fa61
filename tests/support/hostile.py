"""Hostile cases beside a well-behaved client: it must stay served while they run, and the server healthy after."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from tests.support.server import RunningServer

T = TypeVar("T")
ANSWER_WITHIN = 5.0  # seconds: generous on a loaded machine; before the limits most cases never ended


async def while_served(server: RunningServer, hostile: Awaitable[T]) -> T:
    """Await the hostile case while a well-behaved client queries every 50 ms; that client's
    slowest answer must stay within ANSWER_WITHIN, and /healthz must answer afterwards."""
    done = asyncio.Event()

    async def well_behaved() -> float:
        slowest = 0.0
        loop = asyncio.get_running_loop()
        while not done.is_set():
            started = loop.time()
            assert (await server.gql.data("{ __typename }")) == {"__typename": "Query"}
            slowest = max(slowest, loop.time() - started)
            await asyncio.sleep(0.05)
        return slowest

    client = asyncio.create_task(well_behaved())
    try:
        result = await hostile
    finally:
        done.set()
    assert await client < ANSWER_WITHIN
    assert (await server.http.get(f"{server.base_url}/healthz")).json() == {"status": "ok"}
    return result


def port_of(server: RunningServer) -> int:
    """The server's TCP port."""
    return int(server.base_url.rsplit(":", 1)[1])

