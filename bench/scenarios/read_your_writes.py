"""Scenario 5: read-your-writes across processes. At a steady rate, subscribe to
orderProjected(orderId, minVersion: 1) on API process B, then POST createOrder with that
orderId to API process A; latency = notification arrival - response arrival (clamped at
0; how many were negative is reported). The projector runs in a third process."""

from __future__ import annotations

import asyncio
import random
import statistics
import time
import uuid
from typing import Any

import httpx

from bench import dataset, operations, servers
from bench.context import BenchContext
from bench.report import Figure, Series, Target
from bench.wsclient import GraphQLSocket

SCENARIO = "5 read-your-writes"
NOTIFY_TIMEOUT = 15.0


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))] if ordered else 0.0


async def one_run(ctx: BenchContext, a_url: str, b_url: str, commands: int, rate: float) -> dict[str, Any]:
    """`commands` createOrders at `rate`/s; returns latencies (ms) and counts."""
    customers = dataset.customer_count(ctx.plan.orders)
    rng = random.Random()
    responded: dict[str, float] = {}
    notified: dict[str, float] = {}
    failures: list[str] = []
    all_notified = asyncio.Event()

    def on_message(operation_id: str, kind: str, payload: dict[str, Any], arrived: float) -> None:
        if kind == "next" and operation_id not in notified:
            notified[operation_id] = arrived
            if len(notified) >= commands:
                all_notified.set()
        elif kind == "error":
            failures.append(f"{operation_id}: {payload}")

    socket = GraphQLSocket(b_url, on_message)
    await socket.open()
    try:
        async with httpx.AsyncClient(timeout=10, limits=httpx.Limits(max_connections=64)) as http:

            async def command(number: int) -> None:
                order_id = str(uuid.uuid4())
                key = str(number)
                await socket.subscribe(key, operations.ORDER_PROJECTED, {"id": order_id})
                body = operations.body(operations.CREATE_ORDER, {"input": operations.create_input(rng, customers, order_id)})
                response = await http.post(a_url, content=body, headers={"content-type": "application/json"})
                responded[key] = time.perf_counter()
                if response.status_code != 200 or '"errors"' in response.text:
                    failures.append(f"{key}: {response.text[:300]}")

            loop = asyncio.get_running_loop()
            started = loop.time()
            tasks = []
            for number in range(commands):
                delay = started + number / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(command(number)))
            await asyncio.gather(*tasks)
            sent_seconds = loop.time() - started
        try:
            await asyncio.wait_for(all_notified.wait(), timeout=NOTIFY_TIMEOUT)
        except TimeoutError:
            pass
    finally:
        await socket.close()
    if failures:
        raise RuntimeError(f"{SCENARIO}: {len(failures)} failures, e.g. {failures[:3]}")
    raw = [(notified[key] - responded[key]) * 1000 for key in responded if key in notified]
    missing = commands - len(raw)
    if missing:
        raise RuntimeError(f"{SCENARIO}: {missing} of {commands} notifications did not arrive in time")
    return {
        "latencies_ms": [max(0.0, value) for value in raw],
        "negative": sum(1 for value in raw if value < 0),
        "achieved_rate": commands / sent_seconds,
    }


async def run(ctx: BenchContext) -> None:
    """plan.runs runs of plan.commands commands at plan.command_rate; A and B without projectors."""
    plan = ctx.plan
    api_a = servers.orderly_api(ctx)
    api_b = ctx.cluster.api("api-b", ctx.database_url)
    try:
        # Warm both (imports, pools, prepared statements) with a short unrecorded run.
        await one_run(ctx, api_a.url, api_b.url, min(50, plan.commands), plan.command_rate)
        runs = []
        for number in range(plan.runs):
            outcome = await one_run(ctx, api_a.url, api_b.url, plan.commands, plan.command_rate)
            runs.append(outcome)
            values = outcome["latencies_ms"]
            ctx.log(
                f"{SCENARIO} run {number + 1}: {len(values)} commands at {outcome['achieved_rate']:.0f}/s, "
                f"p50 {percentile(values, 0.5):.2f} ms, p99 {percentile(values, 0.99):.2f} ms, "
                f"{outcome['negative']} negative"
            )
    finally:
        ctx.cluster.stop(api_b)
    pooled = [value for outcome in runs for value in outcome["latencies_ms"]]
    summary = {
        "commands": len(pooled),
        "rate": plan.command_rate,
        "p50_ms": percentile(pooled, 0.5),
        "p90_ms": percentile(pooled, 0.9),
        "p99_ms": percentile(pooled, 0.99),
        "max_ms": max(pooled),
        "mean_ms": statistics.fmean(pooled),
        "negative_clamped": sum(outcome["negative"] for outcome in runs),
        "per_run": [
            {"p50_ms": percentile(o["latencies_ms"], 0.5), "p99_ms": percentile(o["latencies_ms"], 0.99),
             "negative": o["negative"], "achieved_rate": o["achieved_rate"]}
            for o in runs
        ],
    }
    ctx.details["read_your_writes"] = summary
    note = f"over all {len(pooled):,} commands: p50 {summary['p50_ms']:.2f} ms, p99 {summary['p99_ms']:.2f} ms"
    ctx.add(Figure(SCENARIO, f"p50 at {plan.command_rate:g} commands/s", "ms", "lower",
                   Series([percentile(o["latencies_ms"], 0.5) for o in runs]),
                   target=Target("value<=", 5), notes=note))
    ctx.add(Figure(SCENARIO, f"p99 at {plan.command_rate:g} commands/s", "ms", "lower",
                   Series([percentile(o["latencies_ms"], 0.99) for o in runs]),
                   target=Target("value<=", 25), notes=note))
