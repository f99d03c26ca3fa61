"""Scenario 1: appends with a trustworthy global order, 16 writers, one event per
command: Orderly's event store (16 concurrent writers in one process through its public
append, which group-commits them) against 16 connections of plain unordered asyncpg
inserts of the same rows, one per transaction (the variants live in bench/append_bench.py)."""

from __future__ import annotations

import statistics

import asyncpg

from bench.append_bench import Outcome, orderly_store, plain_inserts
from bench.context import BenchContext
from bench.report import Figure, Series, Target

SCENARIO = "1 appends"


def _p(outcome: Outcome, q: int) -> float:
    return statistics.quantiles(outcome.latencies, n=100)[q - 1] * 1000 if len(outcome.latencies) > 1 else 0.0


async def run(ctx: BenchContext) -> None:
    """Alternate plain and Orderly runs on a fresh database of their own."""
    plan = ctx.plan
    url = await ctx.cluster.create_database()
    pool = await asyncpg.create_pool(url, min_size=plan.writers, max_size=plan.writers)
    try:
        await pool.execute("CREATE TABLE plain_events (LIKE events INCLUDING ALL)")
        await pool.execute("CREATE TABLE plain_commands (LIKE commands INCLUDING ALL)")
        plain: list[Outcome] = []
        orderly: list[Outcome] = []
        for number in range(plan.runs):
            plain.append(await plain_inserts(pool, plan.writers, plan.append_seconds))
            orderly.append(await orderly_store(url, plan.writers, plan.append_seconds))
            ctx.log(f"{SCENARIO} run {number + 1}: Orderly {orderly[-1].rate:,.0f}/s, plain {plain[-1].rate:,.0f}/s")
    finally:
        await pool.close()
    ctx.add(Figure(
        SCENARIO, f"appends/s, {plan.writers} writers", "/s", "higher",
        Series([outcome.rate for outcome in orderly]),
        Series([outcome.rate for outcome in plain]),
        baseline_name="plain asyncpg", target=Target("ratio>=", 1.0),
    ))
    ctx.add(Figure(
        SCENARIO, "append p99 latency", "ms", "lower",
        Series([_p(outcome, 99) for outcome in orderly]),
        Series([_p(outcome, 99) for outcome in plain]),
        baseline_name="plain asyncpg",
    ))
