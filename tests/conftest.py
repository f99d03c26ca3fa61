"""Shared fixtures: a fresh migrated database per test, on SQLite and PostgreSQL.

Each backend is migrated once per session into a template (a file for SQLite, a
database for PostgreSQL); every test gets a copy with a random name, dropped afterwards.
PostgreSQL tests skip when the server is unreachable, and fail instead when
ORDERLY_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path
from types import FrameType

import asyncpg
import pytest
import pytest_asyncio

from eventstore.database import Database, create_database
from eventstore.memory_store import InMemoryEventStore
from orderly.migrate import migrate
from tests.support.server import RunningServer, running_server, server_settings
from tests.support.services import skip_or_fail

POSTGRES_ADMIN_URL = os.environ.get("ORDERLY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ("sqlite", "postgres")
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


def pytest_configure(config: pytest.Config) -> None:
    """Turn SIGTERM (e.g. from `timeout`) into KeyboardInterrupt so that fixtures still
    tear down and drop the databases they created."""

    def interrupt(signum: int, _frame: FrameType | None) -> None:
        # As SIGINT: inside a running asyncio.Runner (pytest-asyncio) that cancels the
        # test's task cleanly; elsewhere it raises KeyboardInterrupt. If teardown hangs,
        # still die as a terminated process would.
        hard_stop = threading.Timer(20.0, os._exit, args=(128 + signum,))
        hard_stop.daemon = True
        hard_stop.start()
        signal.raise_signal(signal.SIGINT)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, interrupt)


def postgres_url_for(name: str) -> str:
    """The URL of database `name` on the test server."""
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


@cache
def postgres_problem() -> str | None:
    """Why the test PostgreSQL server cannot be used, or None when it can."""

    async def probe() -> None:
        connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=3)
        await connection.close()

    try:
        asyncio.run(probe())
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        return f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {error}"
    return None


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def _drop_postgres_database(name: str) -> None:
    # FORCE terminates leftover connections (a test that leaked one) before dropping.
    await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per session."""
    path = tmp_path_factory.mktemp("orderly-template") / "template.db"
    asyncio.run(migrate(f"sqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """The name of a PostgreSQL database migrated to head once per session."""
    problem = postgres_problem()
    if problem is not None:
        skip_or_fail(problem)
    name = f"orderly_tpl_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        asyncio.run(migrate(postgres_url_for(name)))
        yield name
    finally:
        asyncio.run(_drop_postgres_database(name))


@asynccontextmanager
async def fresh_database_url(backend: str, template: Path | str, tmp_path: Path) -> AsyncIterator[str]:
    """A new database copied from the backend's migrated template; removed on exit."""
    if backend == "sqlite":
        path = tmp_path / f"orderly_t_{uuid.uuid4().hex[:12]}.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    name = f"orderly_t_{uuid.uuid4().hex[:12]}"
    await _admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield postgres_url_for(name)
    finally:
        await _drop_postgres_database(name)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each SQL backend in turn: "sqlite" and "postgres"."""
    return str(request.param)


@pytest.fixture
def database_template(backend: str, request: pytest.FixtureRequest) -> Path | str:
    """The session template for `backend` (resolved here, outside the event loop)."""
    return request.getfixturevalue(f"{backend}_template")


@pytest.fixture
async def database_url(backend: str, database_template: Path | str, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of a fresh migrated database for `backend`, dropped after the test."""
    async with fresh_database_url(backend, database_template, tmp_path) as url:
        yield url


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """A Database on database_url, disposed after the test."""
    db = create_database(database_url)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
async def postgres_url(postgres_template: str, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of a fresh migrated PostgreSQL database, dropped after the test."""
    async with fresh_database_url("postgres", postgres_template, tmp_path) as url:
        yield url


@pytest.fixture
def redis_url() -> str:
    """The machine's Redis, or skip (fail with ORDERLY_REQUIRE_SERVICES=1)."""
    try:
        with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=0.5):
            pass
    except OSError as error:
        skip_or_fail(f"Redis is not reachable at {REDIS_HOST}:{REDIS_PORT}: {error}")
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/0"


@pytest.fixture
def memory_store() -> InMemoryEventStore:
    """An empty in-memory event store without a bus."""
    return InMemoryEventStore()


@pytest.fixture(scope="module", params=BACKENDS)
def module_backend(request: pytest.FixtureRequest) -> tuple[str, Path | str]:
    """Each SQL backend and its session template, once per module (resolved outside the event loop)."""
    return str(request.param), request.getfixturevalue(f"{request.param}_template")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_api(
    module_backend: tuple[str, Path | str], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningServer]:
    """One server per backend for a whole module, for tests that only read or write under random ids.

    A module using it runs its tests in the module's event loop:
    `pytestmark = pytest.mark.asyncio(loop_scope="module")`.
    """
    backend, template = module_backend
    async with fresh_database_url(backend, template, tmp_path_factory.mktemp("shared")) as url:
        async with running_server(server_settings(url)) as server:
            yield server


from tests.support.cluster import cluster  # noqa: E402,F401 - shared fixtures
from tests.support.server import api, server_factory  # noqa: E402,F401 - shared fixtures
