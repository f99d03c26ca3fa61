"""Engines for the event store and read models: one URL in, a read engine and a write engine out."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson
from sqlalchemy import event, exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from domain.errors import ServiceUnavailableError
from eventstore.metrics import observe_pool_wait

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 5000
SERVER_SETTINGS = {"plan_cache_mode": "force_custom_plan"}
# Execution options read by the "begin" hooks below; only the write engine sets them.
_BEGIN_OPTION = "orderly_sqlite_begin"
_UNLIMITED_OPTION = "orderly_no_statement_timeout"


@dataclass
class Database:
    """The engines for one database: reads on `engine`, writes on `write_engine`."""

    engine: AsyncEngine
    write_engine: AsyncEngine
    is_postgres: bool
    url: str
    pool_size: int = 10
    connect_timeout: float = 5.0
    read_timeout: float | None = None  # seconds; the raw pool's reads pass it to asyncpg (see create_database)
    _raw_pool: asyncpg.Pool | None = field(default=None, repr=False)
    _raw_pool_lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    async def raw_pool(self) -> asyncpg.Pool:
        """PostgreSQL only: a plain asyncpg pool for the append hot path, made on first use.

        SQLAlchemy's checkout, isolation switching and result wrapping cost about as much
        client CPU as PostgreSQL spends on the append itself; the append is one statement
        that changes no session state, so the pool skips asyncpg's reset on release.
        """
        if not self.is_postgres:
            raise RuntimeError("the raw pool exists on PostgreSQL only")
        async with self._raw_pool_lock:
            if self._raw_pool is None:
                self._raw_pool = await asyncpg.create_pool(
                    make_url(self.url).set(drivername="postgresql").render_as_string(hide_password=False),
                    min_size=1,
                    max_size=self.pool_size,
                    timeout=self.connect_timeout,
                    reset=_no_reset,
                    server_settings=SERVER_SETTINGS,
                )
        return self._raw_pool

    def raw_pool_usage(self) -> tuple[int, int] | None:
        """The raw pool's (open, in use) connections; None until it is made."""
        pool = self._raw_pool
        if pool is None:
            return None
        size = pool.get_size()
        return size, size - pool.get_idle_size()

    async def dispose(self) -> None:
        """Close every pooled connection."""
        if self._raw_pool is not None:
            pool, self._raw_pool = self._raw_pool, None
            await pool.close()
        await self.engine.dispose()


async def _no_reset(connection: asyncpg.Connection) -> None:
    """Statements on the raw pool leave no session state behind (see Database.raw_pool)."""


def normalise_url(url: str) -> URL:
    """The URL with its async driver: postgresql+asyncpg or sqlite+aiosqlite."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+asyncpg")
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    raise ValueError(f"unsupported database URL {parsed.render_as_string(hide_password=True)!r}")


def create_database(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    pool_timeout: float = 5.0,
    connect_timeout: float = 5.0,
    statement_timeout: float | None = None,
) -> Database:
    """Engines for a postgresql:// or sqlite:/// URL (plain forms get the async drivers).

    On PostgreSQL, reads stop after `statement_timeout` seconds: the engine's connections carry
    the server's statement_timeout; the raw pool, shared with appends and batch commits that
    must not be cut short, has none, and its reads pass `read_timeout` to asyncpg instead,
    which cancels the statement on the server when it fires."""
    parsed = normalise_url(url)
    is_postgres = parsed.get_backend_name() == "postgresql"
    pooling: dict[str, Any] = {"pool_size": pool_size, "max_overflow": max_overflow, "pool_timeout": pool_timeout}
    if not is_postgres and parsed.database in (None, "", ":memory:"):
        # An in-memory SQLite database lives in one connection (SQLAlchemy's StaticPool):
        # fine for a script, not for concurrent tasks.
        pooling = {}
    if is_postgres:
        # Fail fast when the server is unreachable instead of asyncpg's 60 s default.
        # asyncpg prepares every statement; after five runs PostgreSQL may switch to a
        # generic plan made for no particular parameters (a sequential scan for
        # `order_id = ANY($1)` on a large table) and keep it. Plan for the real values.
        server_settings = dict(SERVER_SETTINGS)
        if statement_timeout is not None:
            server_settings["statement_timeout"] = str(max(1, round(statement_timeout * 1000)))
        pooling["connect_args"] = {"timeout": connect_timeout, "server_settings": server_settings}
    engine = create_async_engine(parsed, json_serializer=_dumps, json_deserializer=orjson.loads, **pooling)
    if is_postgres:
        write_engine = _without_statement_timeout(engine) if statement_timeout is not None else engine
    else:
        _configure_sqlite(engine)
        write_engine = engine.execution_options(**{_BEGIN_OPTION: "BEGIN IMMEDIATE"})
    return Database(
        engine=engine,
        write_engine=write_engine,
        is_postgres=is_postgres,
        url=parsed.render_as_string(hide_password=False),
        pool_size=pool_size,
        connect_timeout=connect_timeout,
        read_timeout=statement_timeout if is_postgres else None,
    )


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _without_statement_timeout(engine: AsyncEngine) -> AsyncEngine:
    # The pooled connections carry the read timeout for every statement; a write transaction
    # (migrations, rebuilds) lifts it for itself with SET LOCAL, one statement per
    # transaction, so reads pay nothing for it. The append path's raw pool never sets it.
    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get(_UNLIMITED_OPTION):
            connection.exec_driver_sql("SET LOCAL statement_timeout = 0")

    return engine.execution_options(**{_UNLIMITED_OPTION: True})


def _configure_sqlite(engine: AsyncEngine) -> None:
    # pysqlite's own transaction handling never BEGINs before a SELECT and cannot say
    # IMMEDIATE. We switch it off and emit BEGIN ourselves (SQLAlchemy's documented
    # recipe). Writers start with BEGIN IMMEDIATE: they take the write lock up front and
    # wait up to busy_timeout for it, instead of failing with "database is locked" when a
    # read transaction tries to upgrade to a write while another writer holds the lock.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(connection.get_execution_options().get(_BEGIN_OPTION, "BEGIN"))


# SQLSTATE classes/codes that mean "the server cannot serve us now" rather than "your
# statement is wrong": connection exceptions (08), too many connections / out of
# resources (53), shutdown or "starting up" (57P01-57P03).
_UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "53", "57P01", "57P02", "57P03")
_SQLITE_UNAVAILABLE_MESSAGES = ("database is locked", "unable to open database file", "disk i/o error")
UNAVAILABLE_MESSAGE = "The database cannot be reached; retry later"
_QUERY_CANCELED = "57014"  # statement_timeout (or a cancel request)
STATEMENT_TIMEOUT_MESSAGE = "The database did not answer in time; retry later"


def is_unavailable(error: BaseException) -> bool:
    """Whether the error means the database cannot be reached (retry later), not a bad request."""
    for cause in _causes(error):
        if isinstance(cause, exc.TimeoutError | exc.InterfaceError | OSError):
            return True
        if isinstance(cause, exc.DBAPIError) and cause.connection_invalidated:
            return True
        if isinstance(cause, asyncpg.PostgresConnectionError | asyncpg.InterfaceError):
            return True
        sqlstate = getattr(cause, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATE_PREFIXES):
            return True
        if isinstance(cause, sqlite3.OperationalError) and str(cause).lower().startswith(_SQLITE_UNAVAILABLE_MESSAGES):
            return True
    return False


def _causes(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or any(current is known for known in seen):
            continue
        seen.append(current)
        orig = getattr(current, "orig", None)
        pending.extend([current.__cause__, current.__context__, orig if isinstance(orig, BaseException) else None])
    return seen


@contextmanager
def unavailable_as_error() -> Iterator[None]:
    """Inside it, a driver error meaning the database cannot be reached leaves as ServiceUnavailableError."""
    try:
        yield
    except ServiceUnavailableError:
        raise
    except Exception as error:
        if _timed_out(error):
            raise ServiceUnavailableError(STATEMENT_TIMEOUT_MESSAGE) from error
        if is_unavailable(error):
            raise ServiceUnavailableError(UNAVAILABLE_MESSAGE) from error
        raise


def _timed_out(error: BaseException) -> bool:
    # statement_timeout on the server, or asyncpg's own timeout (a connect or a raw-pool read).
    return any(getattr(cause, "sqlstate", None) == _QUERY_CANCELED or type(cause) is TimeoutError for cause in _causes(error))


class ReadEngine:
    """An engine for reads whose connections report an unreachable database as ServiceUnavailableError."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        """A connection; failing to reach the database, on connect or in use, is ServiceUnavailableError."""
        with unavailable_as_error():
            asked = time.perf_counter()
            async with self.engine.connect() as conn:
                observe_pool_wait(time.perf_counter() - asked)
                yield conn
