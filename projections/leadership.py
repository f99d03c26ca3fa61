"""Exactly one active runner per projection across processes: a PostgreSQL advisory lock.

The lock is held by a dedicated connection (outside the pool), so it lives exactly as long
as that session: when the holding process dies, even by SIGKILL, the server ends the
session, the lock is released and a standby's next attempt takes it. Correctness does not
rest on the lease (the checkpoint compare-and-set already stops two runners from applying
the same batch); the lease keeps standbys idle instead of racing.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress

import asyncpg

from eventstore.tasks import cancel_and_wait

log = logging.getLogger(__name__)

LOCK_CLASS = 0x4F52  # "OR": the first key of every projection lock (two-key advisory locks)


class LeaseLostError(Exception):
    """The connection holding the lease died: stop working, then try to lead again."""


def lock_key(name: str) -> int:
    """The second advisory-lock key for a projection (a signed 32-bit int)."""
    value = zlib.crc32(f"orderly.projection.{name}".encode())
    return value - 2**32 if value >= 2**31 else value


class AdvisoryLease:
    """A lease factory for ProjectionRunner(lease=...): waits as a standby until it leads."""

    def __init__(self, dsn: str, name: str, *, retry_interval: float = 1.0, check_interval: float = 1.0) -> None:
        self._dsn = dsn.replace("postgresql+asyncpg://", "postgresql://", 1)
        self._name = name
        self._key = lock_key(name)
        self._retry_interval = retry_interval
        self._check_interval = check_interval

    def __call__(self) -> AbstractAsyncContextManager[None]:
        """Enter to lead; the body is cancelled (and LeaseLostError raised) if the lease dies."""
        return self._hold()

    @asynccontextmanager
    async def _hold(self) -> AsyncIterator[None]:
        connection = await self._acquire()
        leader = asyncio.current_task()
        assert leader is not None
        lost = asyncio.Event()
        watchdog = asyncio.create_task(self._watch(connection, leader, lost), name=f"lease:{self._name}")
        log.info("projection %s: this process leads", self._name)
        try:
            yield
        except asyncio.CancelledError:
            if lost.is_set() and leader.uncancel() == 0:
                raise LeaseLostError(f"lost the lease of projection {self._name}") from None
            raise
        finally:
            await cancel_and_wait(watchdog)
            await _close(connection)

    async def _acquire(self) -> asyncpg.Connection:
        waiting_logged = False
        while True:
            connection: asyncpg.Connection | None = None
            try:
                connection = await asyncpg.connect(self._dsn, timeout=5)
                if await connection.fetchval("SELECT pg_try_advisory_lock($1, $2)", LOCK_CLASS, self._key):
                    return connection
                if not waiting_logged:
                    log.info("projection %s: another process leads; standing by", self._name)
                    waiting_logged = True
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                log.warning("projection %s: cannot reach PostgreSQL for the lease: %r", self._name, error)
            except BaseException:
                if connection is not None:
                    await _close(connection)
                raise
            if connection is not None:
                await _close(connection)
            await asyncio.sleep(self._retry_interval)

    async def _watch(self, connection: asyncpg.Connection, leader: asyncio.Task[object], lost: asyncio.Event) -> None:
        while True:
            await asyncio.sleep(self._check_interval)
            try:
                await asyncio.wait_for(connection.fetchval("SELECT 1"), self._check_interval * 2)
            except Exception as error:
                # Whatever the check raised, nobody can vouch for the lock any more. Not only the
                # driver's connection errors: asyncpg can raise InternalClientError ("another
                # operation is in progress") between a terminated backend's FATAL and the socket's
                # close; a watchdog that died of it left the leader leading without the lock.
                log.warning("projection %s: lease connection lost (%r); stepping down", self._name, error)
                lost.set()
                leader.cancel()
                return


async def _close(connection: asyncpg.Connection) -> None:
    with suppress(Exception):
        await asyncio.wait_for(connection.close(), 2)
    if not connection.is_closed():
        connection.terminate()
