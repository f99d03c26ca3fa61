"""PostgreSQL advisory-lock leases: one leader per projection, standbys take over, a lost
connection ends the term."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine

import asyncpg
import pytest

from projections.leadership import LOCK_CLASS, AdvisoryLease, LeaseLostError, lock_key


async def test_one_leader_and_a_standby_that_takes_over(postgres_url: str) -> None:
    first = AdvisoryLease(postgres_url, "order_views", retry_interval=0.05)
    second = AdvisoryLease(postgres_url, "order_views", retry_interval=0.05)
    other_projection = AdvisoryLease(postgres_url, "customer_summaries", retry_interval=0.05)
    release_first = asyncio.Event()
    first_leads = asyncio.Event()
    led: list[str] = []

    async def lead(lease: AdvisoryLease, label: str, until: asyncio.Event | None = None) -> None:
        async with lease():
            led.append(label)
            if until is not None:
                first_leads.set()
                await until.wait()

    leader = asyncio.create_task(lead(first, "first", release_first))
    await asyncio.wait_for(first_leads.wait(), 30)  # the first holds the lock before the standby asks
    standby = asyncio.create_task(lead(second, "second"))
    await lead(other_projection, "other")
    await asyncio.sleep(0.3)
    assert led == ["first", "other"], "the standby must wait while the first leads"
    release_first.set()
    await leader
    await asyncio.wait_for(standby, 5)
    assert led == ["first", "other", "second"]


async def test_losing_the_lease_connection_ends_the_term(postgres_url: str) -> None:
    lease = AdvisoryLease(postgres_url, "order_views", retry_interval=0.05, check_interval=0.05)
    plain = postgres_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    admin = await asyncpg.connect(plain)

    async def lead_until_interrupted() -> None:
        async with lease():
            holder = await admin.fetchval(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND objid = $2::oid"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                LOCK_CLASS, lock_key("order_views") % 2**32,
            )
            assert holder is not None
            await admin.execute("SELECT pg_terminate_backend($1)", holder)
            await asyncio.Event().wait()  # only the watchdog ends this

    try:
        await ends_with_a_lost_lease(lead_until_interrupted())
    finally:
        await admin.close()


async def test_a_health_check_that_fails_in_any_way_ends_the_term(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between a terminated backend's FATAL and the socket's close, asyncpg may raise its
    InternalClientError ("another operation is in progress"), not a connection error."""
    check = asyncpg.connection.Connection.fetchval

    async def confused(self: asyncpg.Connection, query: str, *args: object, **kwargs: object) -> object:
        if query == "SELECT 1":
            raise asyncpg.InternalClientError("cannot switch to state 11; another operation (2) is in progress")
        return await check(self, query, *args, **kwargs)

    monkeypatch.setattr(asyncpg.connection.Connection, "fetchval", confused)
    lease = AdvisoryLease(postgres_url, "order_views", retry_interval=0.05, check_interval=0.05)

    async def lead() -> None:
        async with lease():
            await asyncio.Event().wait()  # only the watchdog ends this

    await ends_with_a_lost_lease(lead())


async def ends_with_a_lost_lease(term: Coroutine[object, object, None]) -> None:
    """Run a term in a task of its own (a bound that cancelled the test's task would be taken for
    the loss) and expect LeaseLostError; the bound only turns a hang into a failure."""
    task = asyncio.create_task(term)
    done, _ = await asyncio.wait({task}, timeout=60)
    if not done:
        task.cancel()
        await asyncio.wait({task})
        pytest.fail("the body was not interrupted")
    with pytest.raises(LeaseLostError):
        task.result()


async def test_stopping_a_leader_is_a_plain_cancellation(postgres_url: str) -> None:
    lease = AdvisoryLease(postgres_url, "order_views", retry_interval=0.05)
    entered = asyncio.Event()

    async def lead() -> None:
        async with lease():
            entered.set()
            await asyncio.sleep(60)

    task = asyncio.create_task(lead())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with AdvisoryLease(postgres_url, "order_views", retry_interval=0.05)():
        pass
