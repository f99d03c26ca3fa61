"""Scenario 6: projection catch-up from zero over the loaded log (1,000,000 events in the
full plan), events/s per projection, read from projection_checkpoints as it moves.

The loaded and projected database is what scenarios 3, 4, 7 and 8 then use. A run starts
an `orderly project` process on empty read models; its rate is taken from the first
checkpoint move to the head, so process start-up is not counted.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg

from bench.context import BenchContext
from bench.dataset import Dataset
from bench.loader import load
from bench.procstat import rss_bytes
from bench.report import Figure, Series, Target
from projections.generations import physical_name
from projections.registry import PROJECTIONS

SCENARIO = "6 catch-up"
POLL = 0.05


async def prepare(ctx: BenchContext) -> None:
    """Create the shared database and load the plan's orders into its event log."""
    plan = ctx.plan
    ctx.database_url = await ctx.cluster.create_database()
    ctx.dataset = Dataset(orders=plan.orders, events_per_order=plan.events_per_order)
    ctx.log(f"loading {ctx.dataset.events:,} events ({plan.orders:,} orders)")
    loaded = await load(ctx.database_url, ctx.dataset)
    ctx.details["load"] = loaded
    ctx.log(f"loaded {loaded['events']:,} events in {loaded['seconds']:.1f} s ({loaded['events_per_s']:,.0f}/s)")


async def live_tables(connection: asyncpg.Connection) -> str:
    """The live generation's physical tables of every projection (the logical names are views)."""
    rows = await connection.fetch("SELECT name, generation FROM projection_checkpoints")
    generations = {row["name"]: int(row["generation"]) for row in rows}
    return ", ".join(
        f'"{physical_name(table.name, generations.get(name, 1))}"'
        for name, projector in PROJECTIONS.items()
        for table in projector.tables
    )


async def _reset(url: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(f"TRUNCATE {await live_tables(connection)}")
        await connection.execute("UPDATE projection_checkpoints SET position = 0, state = 'STOPPED', last_error = NULL")
    finally:
        await connection.close()


async def catch_up_once(ctx: BenchContext, timeout: float) -> dict[str, float]:
    """Start a projector on empty read models; events/s of each projection until the head."""
    connection = await asyncpg.connect(ctx.database_url)
    try:
        head = int(await connection.fetchval("SELECT coalesce(max(position), 0) FROM events"))
        ctx.projector = ctx.cluster.projector("projector", ctx.database_url)
        first: dict[str, tuple[float, int]] = {}
        done: dict[str, float] = {}
        deadline = time.monotonic() + timeout
        while len(done) < len(PROJECTIONS):
            if time.monotonic() > deadline or not ctx.projector.alive:
                raise RuntimeError(f"projections did not catch up to {head} in {timeout:.0f} s:\n{ctx.projector.log()}")
            rows = await connection.fetch("SELECT name, position FROM projection_checkpoints")
            now = time.monotonic()
            for row in rows:
                name, position = row["name"], int(row["position"])
                if position > 0 and name not in first:
                    first[name] = (now, position)
                if position >= head and name not in done:
                    done[name] = now
            await asyncio.sleep(POLL)
        rates = {}
        for name, (started, position) in first.items():
            elapsed = done[name] - started
            # A projection that finished within one poll: count the whole log over one poll.
            rates[name] = (head - position) / elapsed if elapsed > 0 and head > position else head / POLL
        return rates
    finally:
        await connection.close()


async def project_all(ctx: BenchContext, runs: int) -> dict[str, list[float]]:
    """`runs` catch-ups from zero; the projector is left running and caught up."""
    plan = ctx.plan
    timeout = 120 + plan.events / 1000
    rates: dict[str, list[float]] = {name: [] for name in PROJECTIONS}
    for number in range(runs):
        if number:
            assert ctx.projector is not None
            ctx.cluster.stop(ctx.projector)
            await _reset(ctx.database_url)
        for name, rate in (await catch_up_once(ctx, timeout)).items():
            rates[name].append(rate)
        ctx.log(f"{SCENARIO} run {number + 1}: " + ", ".join(f"{n} {r[-1]:,.0f} events/s" for n, r in rates.items()))
    assert ctx.projector is not None
    ctx.details["projector_rss_after_catch_up"] = rss_bytes(ctx.projector.pid)
    connection = await asyncpg.connect(ctx.database_url)
    try:
        # Fresh statistics for every reader of the read models (Orderly and PostGraphile alike).
        await connection.execute(f"VACUUM ANALYZE {await live_tables(connection)}")
    finally:
        await connection.close()
    return rates


async def run(ctx: BenchContext) -> None:
    """plan.runs catch-ups from zero over the whole loaded log."""
    rates = await project_all(ctx, ctx.plan.runs)
    events = ctx.dataset.events if ctx.dataset else 0
    for name, values in rates.items():
        ctx.add(Figure(
            SCENARIO, f"{name} events/s from zero over {events:,} events", "/s", "higher",
            Series(values), target=Target("value>=", 80_000),
            notes="both projections run concurrently in one `orderly project` process",
        ))


async def lag(url: str) -> int:
    """Events the slowest projection is behind the head."""
    connection = await asyncpg.connect(url)
    try:
        return int(await connection.fetchval(
            "SELECT coalesce(max(position), 0) - (SELECT coalesce(min(position), 0) FROM projection_checkpoints)"
            " FROM events"
        ))
    finally:
        await connection.close()


async def wait_caught_up(url: str, timeout: float) -> float:
    """Wait until every projection reaches the head; returns the seconds it took."""
    started = time.monotonic()
    while (behind := await lag(url)) > 0:
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"projections still {behind} events behind after {timeout:.0f} s")
        await asyncio.sleep(0.1)
    return time.monotonic() - started
