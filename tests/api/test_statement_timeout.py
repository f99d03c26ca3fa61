"""PostgreSQL's statement_timeout on read connections: a read that runs too long is cancelled by
the server and reaches the client as a coded error without driver text; writes are not limited."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text

from domain.errors import ServiceUnavailableError
from eventstore.database import STATEMENT_TIMEOUT_MESSAGE, ReadEngine, create_database
from orderly.limit_settings import TransportLimits


async def test_reads_time_out_and_writes_do_not(postgres_url: str) -> None:
    database = create_database(postgres_url, statement_timeout=0.2)
    try:
        with pytest.raises(ServiceUnavailableError) as timed_out:
            async with ReadEngine(database.engine).connect() as conn:
                await conn.execute(text("SELECT pg_sleep(2)"))
        assert str(timed_out.value) == STATEMENT_TIMEOUT_MESSAGE
        async with database.write_engine.begin() as conn:  # migrations, rebuilds: no timeout
            await conn.execute(text("SELECT pg_sleep(0.4)"))
        async with ReadEngine(database.engine).connect() as conn:  # the pooled connection kept its timeout
            assert (await conn.execute(text("SHOW statement_timeout"))).scalar() == "200ms"
    finally:
        await database.dispose()


@pytest.fixture
def backend() -> str:
    """statement_timeout is PostgreSQL's."""
    return "postgres"


READS = {
    # reads on the raw asyncpg pool (asyncpg's timeout): a key read, and pages read in one statement
    "order": "query($id: ID!) { order(orderId: $id) { orderId } }",
    "customerOrders": "query($id: ID!) { customerOrders(customerId: $id) { total } }",
    "searchOrders": "query($id: String!) { searchOrders(query: $id, sortBy: TOTAL_AMOUNT) { total items { orderId } } }",
}


@pytest.mark.parametrize("read", sorted(READS))
async def test_a_read_held_past_the_timeout_is_a_coded_error(server_factory: Any, database_url: str, read: str) -> None:
    async with server_factory(transport_limits=TransportLimits(statement_timeout=0.5)) as api:
        blocker = await asyncpg.connect(database_url)
        try:
            transaction = blocker.transaction()
            await transaction.start()
            await blocker.execute("LOCK TABLE order_views IN ACCESS EXCLUSIVE MODE")
            loop = asyncio.get_running_loop()
            started = loop.time()
            body = await api.gql.execute(READS[read], {"id": str(uuid.uuid4())})
            assert loop.time() - started < 5
            await transaction.rollback()
        finally:
            await blocker.close()
        (error,) = body["errors"]
        assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
        assert error["message"] == STATEMENT_TIMEOUT_MESSAGE
        assert "errors" not in await api.gql.execute(READS[read], {"id": str(uuid.uuid4())})
