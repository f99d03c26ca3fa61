"""Scenario 5: read-your-writes across processes. At a steady rate, subscribe to
orderProjected(orderId, minVersion: 1) on API process B, then POST createOrder with that
orderId to an API process that takes the writes; latency = notification arrival - response
arrival (clamped at 0; how many were negative is reported). The projector runs in a
process of its own.

Two rates: plan.command_rate (200/s, one writing API) and plan.fast_command_rate
(1,000/s, two writing APIs taking turns). A stall is a result, not a crash: every run
counts the notifications that came late (over LATE_MS), were refused by the server's
per-connection subscription limit, ended in an error or never came, and reports them as
figures beside p50, p99 and the worst latency. Subscriptions are spread over enough
sockets that the server's limit of 100 operations per connection is not reached before a
stall of STALL_ROOM seconds, so a refusal says the system fell that far behind, not that
the bench's client was the bottleneck.
"""

from __future__ import annotations

import asyncio
import math
import random
import statistics
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from bench import dataset, operations, servers
from bench.context import BenchContext
from bench.procstat import cpu_seconds
from bench.rawhttp import HttpPool
from bench.report import Figure, Series, Target
from bench.wsclient import GraphQLSocket

SCENARIO = "5 read-your-writes"
NOTIFY_TIMEOUT = 15.0  # after the last command, how long notifications may still come
LATE_MS = 100.0
PER_SOCKET = 90  # below the server's 100 operations per connection
STALL_ROOM = 2.0  # seconds of stall the sockets can hold before the server refuses
MIN_SOCKETS = 2


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))] if ordered else 0.0


def sockets_for(rate: float) -> int:
    """Sockets enough for rate x STALL_ROOM subscriptions in flight."""
    return max(MIN_SOCKETS, math.ceil(rate * STALL_ROOM / PER_SOCKET))


def _refusal(payload: Any) -> bool:
    errors = payload if isinstance(payload, list) else [payload]
    for error in errors:
        if not isinstance(error, dict):
            continue
        if (error.get("extensions") or {}).get("code") == "LIMIT_EXCEEDED":
            return True
        if "limit reached" in str(error.get("message", "")).lower():
            return True
    return False


@dataclass
class RunOutcome:
    """What one run saw."""

    commands: int
    rate: float
    sent_rate: float = 0.0  # commands started per second (the client keeping its schedule)
    achieved_rate: float = 0.0  # commands answered per second, over the whole run
    latencies_ms: list[float] = field(default_factory=list)
    negative: int = 0
    refused: int = 0  # the server's per-connection limit: the client had that many waiting
    errors: list[str] = field(default_factory=list)  # other subscription errors (e.g. CONSISTENCY_TIMEOUT)
    failed_commands: list[str] = field(default_factory=list)
    missing: int = 0  # accepted commands whose notification never came (nor an error)
    sockets: int = 0
    cpu_ms_per_command: dict[str, float] = field(default_factory=dict)  # each bench process's CPU over the run

    @property
    def late(self) -> int:
        """Notifications that came over LATE_MS after the command's response."""
        return sum(1 for value in self.latencies_ms if value > LATE_MS)

    @property
    def undelivered(self) -> int:
        """Accepted commands without a notification: refused, errored or missing."""
        return self.refused + len(self.errors) + self.missing

    def summary(self) -> dict[str, Any]:
        """JSON-ready figures of the run."""
        values = self.latencies_ms
        return {
            "commands": self.commands, "rate": self.rate, "sent_rate": self.sent_rate,
            "achieved_rate": self.achieved_rate,
            "sockets": self.sockets, "notified": len(values),
            "p50_ms": percentile(values, 0.5), "p99_ms": percentile(values, 0.99),
            "max_ms": max(values, default=0.0), "late": self.late, "refused": self.refused,
            "errors": len(self.errors), "missing": self.missing, "failed_commands": len(self.failed_commands),
            "negative": self.negative, "error_examples": self.errors[:3],
            "failed_examples": self.failed_commands[:3],
            "cpu_ms_per_command": self.cpu_ms_per_command,
        }


async def one_run(ctx: BenchContext, a_urls: list[str], b_url: str, commands: int, rate: float) -> RunOutcome:
    """`commands` createOrders at `rate`/s, taking turns over a_urls; what arrived and when."""
    customers = dataset.customer_count(ctx.plan.orders)
    rng = random.Random()
    outcome = RunOutcome(commands=commands, rate=rate, sockets=sockets_for(rate))
    responded: dict[str, float] = {}
    notified: dict[str, float] = {}
    settled: set[str] = set()  # a notification, a refusal or an error
    all_settled = asyncio.Event()

    def settle(operation_id: str) -> None:
        settled.add(operation_id)
        if len(settled) >= commands:
            all_settled.set()

    def on_message(operation_id: str, kind: str, payload: Any, arrived: float) -> None:
        if operation_id in settled:
            return
        if kind == "next":
            notified[operation_id] = arrived
        elif kind == "error":
            if _refusal(payload):
                outcome.refused += 1
            else:
                outcome.errors.append(f"{operation_id}: {payload}"[:300])
        else:
            return
        settle(operation_id)

    sockets = [GraphQLSocket(b_url, on_message) for _ in range(outcome.sockets)]
    # CPU of every process the bench runs (API B above all: its subscriptions), from the first command to the last notice.
    services = {service.name: service.pid for service in ctx.cluster.services if service.process.poll() is None}
    cpu_before = {name: cpu_seconds(pid) for name, pid in services.items()}
    try:
        for socket in sockets:
            await socket.open()
        pools = [HttpPool(url) for url in a_urls]
        try:

            async def command(number: int) -> None:
                order_id = str(uuid.uuid4())
                key = str(number)
                await sockets[number % len(sockets)].subscribe(key, operations.ORDER_PROJECTED, {"id": order_id})
                body = operations.body(operations.CREATE_ORDER, {"input": operations.create_input(rng, customers, order_id)})
                try:
                    status, payload = await pools[number % len(pools)].post_json(body)
                except (OSError, TimeoutError, asyncio.IncompleteReadError) as error:
                    outcome.failed_commands.append(f"{key}: {error!r}"[:300])
                    settle(key)
                    return
                if status != 200 or b'"errors"' in payload:
                    outcome.failed_commands.append(f"{key}: {status} {payload[:300]!r}")
                    settle(key)
                    return
                responded[key] = time.perf_counter()

            loop = asyncio.get_running_loop()
            started = loop.time()
            tasks = []
            for number in range(commands):
                delay = started + number / rate - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(command(number)))
            outcome.sent_rate = commands / (loop.time() - started)
            await asyncio.gather(*tasks)
            outcome.achieved_rate = commands / (loop.time() - started)
        finally:
            for pool in pools:
                await pool.close()
        try:
            await asyncio.wait_for(all_settled.wait(), timeout=NOTIFY_TIMEOUT)
        except TimeoutError:
            pass
    finally:
        outcome.cpu_ms_per_command = {
            name: round((cpu_seconds(pid) - cpu_before[name]) * 1000 / commands, 3) for name, pid in services.items()
        }
        for socket in sockets:
            await socket.close()
    if len(outcome.failed_commands) == commands:
        raise RuntimeError(f"{SCENARIO}: every command failed, e.g. {outcome.failed_commands[:3]}")
    raw = [(notified[key] - responded[key]) * 1000 for key in responded if key in notified]
    outcome.latencies_ms = [max(0.0, value) for value in raw]
    outcome.negative = sum(1 for value in raw if value < 0)
    outcome.missing = sum(1 for key in responded if key not in settled)
    return outcome


async def _measure(ctx: BenchContext, a_urls: list[str], b_url: str, rate: float, commands: int) -> list[RunOutcome]:
    # Warm every process (imports, pools, prepared statements) with a short unrecorded run.
    await one_run(ctx, a_urls, b_url, min(50, commands), rate)
    runs = []
    for number in range(ctx.plan.runs):
        outcome = await one_run(ctx, a_urls, b_url, commands, rate)
        runs.append(outcome)
        s = outcome.summary()
        ctx.log(
            f"{SCENARIO} at {rate:g}/s run {number + 1}: {commands} commands sent at {s['sent_rate']:.0f}/s, "
            f"answered at {s['achieved_rate']:.0f}/s over "
            f"{len(a_urls)} writing API(s), {s['sockets']} sockets: p50 {s['p50_ms']:.2f} ms, p99 {s['p99_ms']:.2f} ms, "
            f"max {s['max_ms']:.1f} ms, {s['late']} over {LATE_MS:g} ms, {s['refused']} refused, {s['errors']} errors, "
            f"{s['missing']} missing, {s['failed_commands']} failed commands, {s['negative']} negative"
            + f"; CPU ms per command {s['cpu_ms_per_command']}"
            + (f"; e.g. {s['error_examples'][:1]}" if s["errors"] else "")
        )
    return runs


def _figures(ctx: BenchContext, runs: list[RunOutcome], rate: float, writers: int, *, p99_target: float) -> None:
    pooled = [value for outcome in runs for value in outcome.latencies_ms]
    note = (
        f"{len(pooled):,} notifications over {len(runs)} runs, {writers} writing API(s), "
        f"{runs[0].sockets} sockets; p50 {percentile(pooled, 0.5):.2f} ms, p99 {percentile(pooled, 0.99):.2f} ms, "
        f"max {max(pooled, default=0.0):.1f} ms"
    )
    at = f"at {rate:g} commands/s"

    def add(name: str, unit: str, values: list[float], target: Target | None) -> None:
        ctx.add(Figure(SCENARIO, f"{name} {at}", unit, "lower", Series(values), target=target, notes=note))

    add("p50", "ms", [percentile(o.latencies_ms, 0.5) for o in runs], None)
    add("p99", "ms", [percentile(o.latencies_ms, 0.99) for o in runs], Target("every<=", p99_target))
    add("max latency", "ms", [max(o.latencies_ms, default=0.0) for o in runs], None)
    add(f"notifications over {LATE_MS:g} ms", "", [float(o.late) for o in runs], None)
    add("notifications refused, failed or missing", "", [float(o.undelivered) for o in runs], Target("every<=", 0))
    add("commands failed", "", [float(len(o.failed_commands)) for o in runs], Target("every<=", 0))


async def run(ctx: BenchContext) -> None:
    """plan.runs runs at plan.command_rate through one API, then at plan.fast_command_rate
    through two; subscriptions on a third API process, none of them running projectors."""
    plan = ctx.plan
    api_a = servers.orderly_api(ctx)
    api_b = ctx.cluster.api("api-b", ctx.database_url)
    api_a2 = None
    details: dict[str, Any] = {}
    try:
        runs = await _measure(ctx, [api_a.url], api_b.url, plan.command_rate, plan.commands)
        details["base"] = _details(runs, 1)
        _figures(ctx, runs, plan.command_rate, 1, p99_target=10)
        api_a2 = ctx.cluster.api("api-a2", ctx.database_url)
        fast_commands = round(plan.commands * plan.fast_command_rate / plan.command_rate)
        fast = await _measure(ctx, [api_a.url, api_a2.url], api_b.url, plan.fast_command_rate, fast_commands)
        details["fast"] = _details(fast, 2)
        _figures(ctx, fast, plan.fast_command_rate, 2, p99_target=25)
    finally:
        ctx.details["read_your_writes"] = details
        for service in (api_b, api_a2):
            if service is not None:
                ctx.cluster.stop(service)


def _details(runs: list[RunOutcome], writers: int) -> dict[str, Any]:
    pooled = [value for outcome in runs for value in outcome.latencies_ms]
    return {
        "commands": len(pooled),
        "rate": runs[0].rate,
        "writers": writers,
        "sockets": runs[0].sockets,
        "p50_ms": percentile(pooled, 0.5),
        "p90_ms": percentile(pooled, 0.9),
        "p99_ms": percentile(pooled, 0.99),
        "max_ms": max(pooled, default=0.0),
        "mean_ms": statistics.fmean(pooled) if pooled else 0.0,
        "late": sum(outcome.late for outcome in runs),
        "refused": sum(outcome.refused for outcome in runs),
        "errors": sum(len(outcome.errors) for outcome in runs),
        "missing": sum(outcome.missing for outcome in runs),
        "failed_commands": sum(len(outcome.failed_commands) for outcome in runs),
        "negative_clamped": sum(outcome.negative for outcome in runs),
        "per_run": [outcome.summary() for outcome in runs],
    }
