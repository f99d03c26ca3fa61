"""Scenario 9: blue-green rebuilds of both projections over the loaded log (1,000,000 events in
the full plan), while the live projector keeps following and serving.

Each run is `orderly rebuild NAME` as an operator types it (a subprocess, its progress printed as
plain lines into its log): the wall time from start to exit, which includes filling the new
generation from position 0, the switch and the drop of the old generation. Projections are
rebuilt one after the other, as an operator would; the figure is the time for both. A second
figure starts both `orderly rebuild` processes at once (two processes: on a machine of two or more
cores the two folds run side by side) and takes the wall time until both have exited. A third
figure is `orderly rebuild order_views customer_summaries`: one process filling both at once
from one read of the log (projections/rebuild_together.py).
"""

from __future__ import annotations

import asyncio
import sys
import time

import asyncpg

from bench.context import BenchContext
from bench.report import Figure, Series, Target
from projections.registry import PROJECTIONS

SCENARIO = "9 blue-green rebuild"


async def rebuild_once(ctx: BenchContext, name: str, timeout: float, *more: str) -> float:
    """Seconds `orderly rebuild NAME [MORE...]` takes, from start to its exit after the switch and the drop."""
    assert ctx.database_url is not None
    argv = [sys.executable, "-m", "orderly.cli", "rebuild", name, *more]
    started = time.monotonic()
    service = ctx.cluster.start(f"rebuild-{'-'.join((name, *more))}", argv, ctx.cluster.orderly_env(ctx.database_url))
    try:
        code = await asyncio.wait_for(asyncio.to_thread(service.process.wait), timeout)
    except TimeoutError:
        ctx.cluster.stop(service)
        raise RuntimeError(f"orderly rebuild {name} did not finish in {timeout:.0f} s:\n{service.log()}") from None
    if code != 0:
        raise RuntimeError(f"orderly rebuild {name} exited {code}:\n{service.log()}")
    return time.monotonic() - started


async def live_generations(url: str) -> dict[str, int]:
    """The live generation of each projection (every rebuild moves it up by one)."""
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch("SELECT name, generation FROM projection_checkpoints")
        return {row["name"]: int(row["generation"]) for row in rows if row["name"] in PROJECTIONS}
    finally:
        await connection.close()


async def run(ctx: BenchContext) -> None:
    """plan.runs rebuilds of both projections, one after the other, with the projector running."""
    assert ctx.database_url is not None
    events = ctx.dataset.events if ctx.dataset else 0
    timeout = 120 + events / 500
    both: list[float] = []
    each: dict[str, list[float]] = {name: [] for name in PROJECTIONS}
    for number in range(ctx.plan.runs):
        before = await live_generations(ctx.database_url)
        total = 0.0
        for name in PROJECTIONS:
            seconds = await rebuild_once(ctx, name, timeout)
            each[name].append(seconds)
            total += seconds
        after = await live_generations(ctx.database_url)
        if any(after.get(name, 0) != before.get(name, 1) + 1 for name in PROJECTIONS):
            raise RuntimeError(f"a rebuild did not switch generations: before {before}, after {after}")
        both.append(total)
        ctx.log(f"{SCENARIO} run {number + 1}: both in {total:.1f} s (" + ", ".join(
            f"{name} {values[-1]:.1f} s" for name, values in each.items()) + ")")
    notes = "orderly rebuild NAME, one projection after the other, live projector running; includes switch and drop"
    ctx.add(Figure(SCENARIO, f"both projections over {events:,} events", "s", "lower", Series(both),
                   target=Target("value<=", 30), notes=notes))
    for name, values in each.items():
        ctx.add(Figure(SCENARIO, f"{name} over {events:,} events", "s", "lower", Series(values), notes=notes))
    together: list[float] = []
    for number in range(ctx.plan.runs):
        before = await live_generations(ctx.database_url)
        started = time.monotonic()
        await asyncio.gather(*(rebuild_once(ctx, name, timeout) for name in PROJECTIONS))
        together.append(time.monotonic() - started)
        after = await live_generations(ctx.database_url)
        if any(after.get(name, 0) != before.get(name, 1) + 1 for name in PROJECTIONS):
            raise RuntimeError(f"a rebuild did not switch generations: before {before}, after {after}")
        ctx.log(f"{SCENARIO} run {number + 1}: both at once in {together[-1]:.1f} s")
    notes = "both `orderly rebuild NAME` processes started at once, live projector running; includes switch and drop"
    ctx.add(Figure(SCENARIO, f"both projections at once over {events:,} events", "s", "lower", Series(together), notes=notes))
    one: list[float] = []
    for number in range(ctx.plan.runs):
        before = await live_generations(ctx.database_url)
        first, *others = PROJECTIONS
        one.append(await rebuild_once(ctx, first, timeout, *others))
        after = await live_generations(ctx.database_url)
        if any(after.get(name, 0) != before.get(name, 1) + 1 for name in PROJECTIONS):
            raise RuntimeError(f"a rebuild did not switch generations: before {before}, after {after}")
        ctx.log(f"{SCENARIO} run {number + 1}: both in one process in {one[-1]:.1f} s")
    notes = "`orderly rebuild " + " ".join(PROJECTIONS) + "`: one process, one read of the log, live projector running"
    ctx.add(Figure(SCENARIO, f"both projections in one process over {events:,} events", "s", "lower", Series(one),
                   target=Target("value<=", 30), notes=notes))
