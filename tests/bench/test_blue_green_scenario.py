"""The bench's pieces that know about generations: the catch-up reset truncates the live generation's
tables (the logical names are views), and scenario 9 reads each projection's live generation."""

from __future__ import annotations

import asyncpg

from bench.scenarios.blue_green import live_generations
from bench.scenarios.catch_up import _reset, live_tables


async def test_the_reset_truncates_the_live_generation_and_the_rebuild_scenario_reads_it(postgres_url: str) -> None:
    connection = await asyncpg.connect(postgres_url)
    try:
        await connection.execute(
            "INSERT INTO projection_checkpoints (name, position, state, updated_at, generation)"
            " VALUES ('order_views', 7, 'RUNNING', now(), 1), ('customer_summaries', 7, 'RUNNING', now(), 1)"
        )
        await connection.execute(
            "INSERT INTO customer_order_facts__g1 VALUES ('o-1', 'c-1', 'CREATED', '1', 100, 1)"
        )
        assert await live_tables(connection) == (
            '"order_views__g1", "customer_summaries__g1", "customer_order_facts__g1"'
        )
        assert await live_generations(postgres_url) == {"order_views": 1, "customer_summaries": 1}

        await _reset(postgres_url)

        assert await connection.fetchval("SELECT count(*) FROM customer_order_facts") == 0
        assert await connection.fetchval("SELECT max(position) FROM projection_checkpoints") == 0
    finally:
        await connection.close()
