"""Scenario 2: createOrder over HTTP, 16 concurrent clients, the projector in another
process and Redis on, against the naive strawberry mutation that inserts one ORM row."""

from __future__ import annotations

from bench import dataset, operations, servers
from bench.compare import Side, compare
from bench.context import BenchContext
from bench.report import Figure, Series, Target
from bench.scenarios.catch_up import lag, wait_caught_up

SCENARIO = "2 createOrder"


async def run(ctx: BenchContext) -> None:
    """Alternate Orderly and the ORM app; afterwards, how far the projector fell behind."""
    customers = dataset.customer_count(ctx.plan.orders)
    api = servers.orderly_api(ctx)
    watch = {"projector": ctx.projector.pid} if ctx.projector else {}
    sides = [
        Side("orderly", api, operations.creates("createOrder", customers),
             check=lambda data: data.get("createOrder") is not None, watch=watch),
        Side("naive ORM", servers.orm_baseline(ctx), operations.creates("createOrder", customers),
             check=lambda data: data.get("createOrder") is not None),
    ]
    results = compare(ctx, SCENARIO, sides)
    behind = await lag(ctx.database_url)
    catch_up = await wait_caught_up(ctx.database_url, timeout=300)
    ctx.details["create_order_projection"] = {"lag_after_runs": behind, "seconds_to_catch_up": catch_up}
    ctx.log(f"{SCENARIO}: projections {behind} events behind after the runs, caught up in {catch_up:.1f} s")
    mine, theirs = results["orderly"], results["naive ORM"]
    ctx.add(Figure(SCENARIO, f"req/s, {ctx.plan.connections} clients", "/s", "higher",
                   Series([r.rps for r in mine]), Series([r.rps for r in theirs]),
                   baseline_name="naive ORM insert", target=Target("ratio>=", 2.5),
                   notes=f"projector lag after the runs: {behind} events"))
    ctx.add(Figure(SCENARIO, "p99 latency", "ms", "lower",
                   Series([r.p99_ms for r in mine]), Series([r.p99_ms for r in theirs]),
                   baseline_name="naive ORM insert"))
    servers.stop(ctx, "orm")
