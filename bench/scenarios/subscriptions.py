"""Scenario 7: plan.subscriptions open orderUpdated subscriptions on one API process, each
on its own loaded order, multiplexed plan.subscriptions_per_socket to a WebSocket.

Clients arrive one WebSocket at a time (the next opens when the previous one's views
have arrived). Resident memory is read before and after they open. Then rounds: the bench commits
OrderItemAdded for plan.update_round watched orders in one transaction (so the projector
applies them in one batch) and rings the doorbell; the projector's "projection advanced"
notice, heard by the bench on Redis right after the projection's COMMIT, starts the
clock, and each subscription's next message stops it. A run updates every watched
order once; "all delivered" is the last delivery of a round.
"""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import orjson
import redis.asyncio as aioredis

from bench import dataset, operations
from bench.context import BenchContext
from bench.loader import COLUMNS, record, ring
from bench.procstat import rss_bytes
from bench.report import Figure, Series, Target
from bench.scenarios.read_your_writes import percentile
from bench.wsclient import GraphQLSocket
from domain.events import OrderItemAdded
from domain.values import LineItem
from eventstore.bus import projection_channel

SCENARIO = "7 subscriptions"
ROUND_TIMEOUT = 30.0
OPEN_TIMEOUT = 180.0
MB = 1024 * 1024


class Watch:
    """What the bench knows of every subscription: last version seen and delivery times."""

    def __init__(self) -> None:
        self.version: dict[str, int] = {}
        self.arrived: dict[str, float] = {}
        self.failed: dict[str, str] = {}  # subscriptions the server ended with an error
        self.changed = asyncio.Event()

    def on_message(self, operation_id: str, kind: str, payload: dict[str, Any], arrived: float) -> None:
        if kind == "next" and not payload.get("errors"):
            order = (payload.get("data") or {}).get("orderUpdated") or {}
            self.version[operation_id] = int(order.get("version", 0))
            self.arrived[operation_id] = arrived
            self.changed.set()
        elif operation_id not in self.failed:
            self.failed[operation_id] = f"{kind}: {payload}"[:300]
        self.changed.set()

    def live(self, order_ids: list[str]) -> list[str]:
        """The ones the server has not ended."""
        return [order_id for order_id in order_ids if order_id not in self.failed]


async def _wait(watch: Watch, done: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RuntimeError(f"{SCENARIO}: timed out waiting for {what}")
        watch.changed.clear()
        try:
            await asyncio.wait_for(watch.changed.wait(), timeout=min(remaining, 0.5))
        except TimeoutError:
            pass


async def run(ctx: BenchContext) -> None:
    """Open the subscriptions on a fresh API process, measure memory, then delivery rounds."""
    plan = ctx.plan
    count = min(plan.subscriptions, plan.orders)
    ids = [dataset.order_id(i) for i in range(count)]
    api = ctx.cluster.api("api-subs", ctx.database_url)
    watch = Watch()
    sockets: list[GraphQLSocket] = []
    notices: dict[str, float] = {}
    redis = aioredis.Redis.from_url(ctx.cluster.redis_url)
    pubsub = redis.pubsub()
    try:
        rss_before = rss_bytes(api.pid)
        opened_at = time.monotonic()
        for start in range(0, count, plan.subscriptions_per_socket):
            socket = GraphQLSocket(api.url, watch.on_message)
            await socket.open()
            sockets.append(socket)
            for order_id in ids[start:start + plan.subscriptions_per_socket]:
                await socket.subscribe(order_id, operations.ORDER_UPDATED, {"id": order_id})
            # One socket's subscriptions at a time: all 10,000 at once exhaust the API's
            # connection pool (each reads its order's view when it starts) and some fail
            # with SERVICE_UNAVAILABLE after the pool timeout.
            opened = min(count, start + plan.subscriptions_per_socket)
            await _wait(watch, lambda opened=opened: len(watch.version) + len(watch.failed) >= opened, OPEN_TIMEOUT,
                        "the initial views")
        open_seconds = time.monotonic() - opened_at
        await asyncio.sleep(1.0)
        rss_open = rss_bytes(api.pid)
        ctx.log(f"{SCENARIO}: {count:,} subscriptions open in {open_seconds:.1f} s; "
                f"RSS {rss_before / MB:.0f} MB -> {rss_open / MB:.0f} MB")

        channel = f"{ctx.cluster.namespace}:{projection_channel('order_views')}"
        await pubsub.subscribe(channel)
        listener = asyncio.create_task(_listen(pubsub, notices, watch))
        database = await asyncpg.connect(ctx.database_url)
        per_delivery: list[list[float]] = []
        all_delivered: list[list[float]] = []
        rss_peak = rss_open
        rng = random.Random(5)
        try:
            for number in range(plan.runs):
                deliveries, rounds = [], []
                for start in range(0, count, plan.update_round):
                    batch = ids[start:start + plan.update_round]
                    latencies = await _round(ctx, database, watch, notices, batch, rng)
                    deliveries.extend(latencies)
                    rounds.append(max(latencies))
                    rss_peak = max(rss_peak, rss_bytes(api.pid))
                    await asyncio.sleep(0.02)
                per_delivery.append(deliveries)
                all_delivered.append(rounds)
                ctx.log(f"{SCENARIO} run {number + 1}: {len(rounds)} rounds of {plan.update_round}; delivery p99 "
                        f"{percentile(deliveries, 0.99):.1f} ms, all-delivered p99 {percentile(rounds, 0.99):.1f} ms")
        finally:
            listener.cancel()
            await database.close()
        ctx.details["subscriptions"] = {
            "count": count, "per_socket": plan.subscriptions_per_socket, "open_seconds": open_seconds,
            "rss_before": rss_before, "rss_open": rss_open, "rss_peak": rss_peak,
            "update_round": plan.update_round,
            "failed": len(watch.failed), "failed_examples": list(watch.failed.items())[:5],
        }
        failed = f"; {len(watch.failed)} subscriptions ended by the server with an error" if watch.failed else ""
        ctx.add(Figure(SCENARIO, f"RSS with {count:,} open", "MB", "lower", Series([rss_open / MB]),
                       target=Target("value<=", 1024),
                       notes=f"before opening: {rss_before / MB:.0f} MB; peak during rounds {rss_peak / MB:.0f} MB"))
        ctx.add(Figure(SCENARIO, f"p99 commit -> all {plan.update_round} updated delivered", "ms", "lower",
                       Series([percentile(rounds, 0.99) for rounds in all_delivered]),
                       target=Target("every<=", 50),
                       notes=f"{count:,} subscriptions; each round one projection batch{failed}"))
        ctx.add(Figure(SCENARIO, "p99 commit -> each delivery", "ms", "lower",
                       Series([percentile(values, 0.99) for values in per_delivery]), notes=failed.lstrip("; ")))
        if watch.failed:
            ctx.log(f"{SCENARIO}: {len(watch.failed)} subscriptions failed, e.g. {list(watch.failed.values())[:2]}")
    finally:
        for socket in sockets:
            await socket.close()
        await pubsub.aclose()
        await redis.aclose()
        ctx.cluster.stop(api)


async def _listen(pubsub: Any, notices: dict[str, float], watch: Watch) -> None:
    """Time-stamp each order's first projection notice (the projection's commit)."""
    while True:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
        if message is None:
            continue
        arrived = time.perf_counter()
        notice = orjson.loads(message["data"])
        for order_id in notice.get("streams") or {}:
            notices.setdefault(order_id, arrived)
        watch.changed.set()


async def _round(
    ctx: BenchContext, database: asyncpg.Connection, watch: Watch, notices: dict[str, float],
    batch: list[str], rng: random.Random,
) -> list[float]:
    """Commit one OrderItemAdded per order in one transaction; latencies (ms) of the deliveries."""
    now = datetime.now(UTC)
    rows = []
    expected = {}
    batch = watch.live(batch)
    for order_id in batch:
        version = watch.version[order_id] + 1
        expected[order_id] = version
        notices.pop(order_id, None)
        item = LineItem(product_id=dataset.product_id(rng.randrange(dataset.PRODUCTS)), quantity=1,
                        price=Decimal("1.00"))
        rows.append(record(order_id, version, OrderItemAdded(order_id=order_id, item=item, occurred_at=now)))
    async with database.transaction():
        await database.copy_records_to_table("events", records=rows, columns=COLUMNS)
    position = int(await database.fetchval("SELECT max(position) FROM events"))
    await ring(ctx.cluster.redis_url, ctx.cluster.namespace, position)
    await _wait(
        watch,
        lambda: all(watch.version[o] >= v or o in watch.failed for o, v in expected.items())
        and all(o in notices for o in batch),
        ROUND_TIMEOUT, "a round's deliveries",
    )
    return [max(0.0, (watch.arrived[o] - notices[o]) * 1000) for o in watch.live(batch)] or [0.0]
