"""Scenario 3: order(orderId) over HTTP on the loaded orders, a random id per request,
against (a) the naive ORM app reading the same row and (b) PostGraphile 4."""

from __future__ import annotations

from bench import operations, servers
from bench.baselines import postgraphile
from bench.compare import Side, compare
from bench.context import BenchContext
from bench.load import LoadResult
from bench.report import Figure, Series, Target

SCENARIO = "3 order(orderId)"


def _rps(results: list[LoadResult]) -> Series:
    return Series([result.rps for result in results])


def _p99(results: list[LoadResult]) -> Series:
    return Series([result.p99_ms for result in results])


async def run(ctx: BenchContext) -> None:
    """Orderly, the ORM app and PostGraphile, alternating."""
    orders = ctx.plan.orders
    api = servers.orderly_api(ctx)
    watch = {"projector": ctx.projector.pid} if ctx.projector else {}
    sides = [
        Side("orderly", api, operations.by_id("order", operations.ORDER_BY_ID, orders),
             check=lambda data: data.get("order") is not None, watch=watch),
        Side("naive ORM", servers.orm_baseline(ctx), operations.by_id("order", operations.ORDER_BY_ID, orders),
             check=lambda data: data.get("order") is not None),
    ]
    graphile = servers.postgraphile_server(ctx)
    if graphile is not None:
        sides.append(Side(
            "PostGraphile", graphile, operations.by_id("order", postgraphile.ORDER_BY_ID, orders),
            check=lambda data: data.get("orderViewByOrderId") is not None,
        ))
    results = compare(ctx, SCENARIO, sides)
    mine = results["orderly"]
    ctx.add(Figure(SCENARIO, "req/s, random ids", "/s", "higher", _rps(mine), _rps(results["naive ORM"]),
                   baseline_name="(a) naive ORM", target=Target("ratio>=", 5)))
    theirs = results.get("PostGraphile")
    ctx.add(Figure(SCENARIO, "req/s, random ids", "/s", "higher", _rps(mine),
                   None if theirs is None else _rps(theirs), baseline_name="(b) PostGraphile",
                   baseline_note=f"unavailable: {ctx.unavailable.get('postgraphile', '')}",
                   target=Target("ratio>=", 1.2)))
    ctx.add(Figure(SCENARIO, "p99 latency", "ms", "lower", _p99(mine), _p99(results["naive ORM"]),
                   baseline_name="(a) naive ORM"))
