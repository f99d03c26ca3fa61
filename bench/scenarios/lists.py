"""Scenario 4: customerOrders (a page of 20) and searchOrders (one term and a status
filter) on the loaded orders: req/s, p50 and p99, against PostGraphile's equivalent list
query (allOrderViews with a condition, or with connection-filter's includesInsensitive)."""

from __future__ import annotations

from bench import operations, servers
from bench.baselines import postgraphile
from bench.compare import Side, compare
from bench.context import BenchContext
from bench.load import Workload
from bench.report import Figure, Series, Target

SCENARIO = "4 lists"


def _has_page(field: str) -> object:
    return lambda data: isinstance((data.get(field) or {}).get("items", (data.get(field) or {}).get("nodes")), list)


# issue 13's goals for the ratio of requests per second to PostGraphile's
RPS_TARGETS = {"customerOrders": Target("ratio>=", 1.0), "searchOrders": Target("ratio>=", 2.0)}


async def _figure_set(ctx: BenchContext, label: str, mine: Side, theirs: Side | None) -> None:
    sides = [mine] if theirs is None else [mine, theirs]
    results = compare(ctx, f"{SCENARIO} {label}", sides)
    other = results.get("PostGraphile")
    note = f"unavailable: {ctx.unavailable.get('postgraphile', '')}"
    for name, unit, better, pick in (
        ("req/s", "/s", "higher", lambda r: r.rps),
        ("p50 latency", "ms", "lower", lambda r: r.p50_ms),
        ("p99 latency", "ms", "lower", lambda r: r.p99_ms),
    ):
        ctx.add(Figure(
            f"{SCENARIO}", f"{label} {name}", unit, better,
            Series([pick(r) for r in results["orderly"]]),
            None if other is None else Series([pick(r) for r in other]),
            baseline_name="PostGraphile", baseline_note=note,
            target=RPS_TARGETS.get(label) if name == "req/s" else None,
        ))


async def run(ctx: BenchContext) -> None:
    """customerOrders, then searchOrders; each alternating Orderly and PostGraphile."""
    orders = ctx.plan.orders
    api = servers.orderly_api(ctx)
    graphile = servers.postgraphile_server(ctx)

    def side(name: str, service: object, workload: Workload, field: str) -> Side:
        return Side(name, service, workload, check=_has_page(field))  # type: ignore[arg-type]

    await _figure_set(
        ctx, "customerOrders",
        side("orderly", api, operations.customers("customerOrders", operations.CUSTOMER_ORDERS, orders),
             "customerOrders"),
        None if graphile is None else side(
            "PostGraphile", graphile, operations.customers("allOrderViews", postgraphile.CUSTOMER_ORDERS, orders),
            "allOrderViews"),
    )
    await _figure_set(
        ctx, "searchOrders",
        side("orderly", api, operations.searches("searchOrders", operations.SEARCH_ORDERS), "searchOrders"),
        None if graphile is None else side(
            "PostGraphile", graphile, operations.searches("allOrderViews", postgraphile.SEARCH_ORDERS),
            "allOrderViews"),
    )
    servers.stop(ctx, "postgraphile")
