"""A real server (uvicorn in this process, on a free loopback port) over a fresh database, and its fixtures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

from orderly.app import create_app
from orderly.bootstrap import Container
from orderly.serving import uvicorn_config
from orderly.settings import Settings
from tests.support.graphql_client import GraphQLHttp
from tests.support.redis_server import free_port

SHUTDOWN_BOUND = 120.0  # seconds; only bounds a hang (a graceful shutdown here takes well under one)


@dataclass
class RunningServer:
    """A started server and the client pieces a test needs."""

    url: str
    base_url: str
    container: Container
    http: httpx.AsyncClient
    gql: GraphQLHttp


@asynccontextmanager
async def running_server(settings: Settings, **overrides: Any) -> AsyncIterator[RunningServer]:
    """Serve create_app(settings) until the block ends."""
    from orderly.bootstrap import build_container

    container = build_container(settings, overrides=overrides or None)
    app = create_app(settings, container=container)
    async with serving(app) as port:
        base_url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(timeout=15) as http:
            yield RunningServer(
                url=f"{base_url}/graphql",
                base_url=base_url,
                container=container,
                http=http,
                gql=GraphQLHttp(http, f"{base_url}/graphql"),
            )


@asynccontextmanager
async def serving(app: Starlette) -> AsyncIterator[int]:
    """Run the app under uvicorn, configured as `orderly serve` does, on a free loopback port (yielded)
    until the block ends."""
    port = free_port()
    settings = app.state.container.settings
    server = uvicorn.Server(uvicorn_config(app, settings, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        await _shut_down(server, task)


async def _shut_down(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    """Wait for uvicorn's graceful shutdown; one that never ends fails the test, saying what was
    still open, instead of hanging the suite."""
    done, _ = await asyncio.wait({task}, timeout=SHUTDOWN_BOUND)
    if task in done:
        task.result()
        return
    still_open = f"{len(server.server_state.connections)} connection(s), {len(server.server_state.tasks)} task(s)"
    server.force_exit = True
    task.cancel()
    await asyncio.wait({task})
    pytest.fail(f"uvicorn did not shut down within {SHUTDOWN_BOUND:.0f}s ({still_open} open; else the app's shutdown)")


def server_settings(database_url: str, **changes: Any) -> Settings:
    """Settings for a test server: fast polls."""
    return Settings(database_url=database_url, poll_interval=0.2).with_changes(**changes)


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[RunningServer]:
    """A server with projectors, on each backend."""
    async with running_server(server_settings(database_url)) as server:
        yield server


@pytest.fixture
def server_factory(database_url: str) -> Callable[..., Any]:
    """Start a server on the test database with other settings or overrides."""

    def factory(**changes: Any) -> Any:
        overrides = changes.pop("overrides", {})
        return running_server(server_settings(database_url, **changes), **overrides)

    return factory
