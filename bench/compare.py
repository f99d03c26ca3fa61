"""Servers side by side under the same HTTP load: check each answers correctly, warm each
up, then alternate measured runs (A, B, A, B, ...) so that machine noise hits both."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.cluster import Service
from bench.context import BenchContext
from bench.load import LoadResult, Workload, run_load

Check = Callable[[dict[str, Any]], bool]


@dataclass
class Side:
    """One server and what to send it."""

    name: str
    service: Service
    workload: Workload
    check: Check = lambda answer: True
    watch: dict[str, int] = field(default_factory=dict)  # more processes whose CPU share to report


def preflight(side: Side, samples: int = 5) -> None:
    """Send a few of the workload's bodies; raise unless every answer is 200, error-free and checks."""
    rng = random.Random(1)
    with httpx.Client(timeout=10) as client:
        for _ in range(samples):
            body = side.workload.sample(rng)
            response = client.post(side.service.url, content=body, headers={"content-type": "application/json"})
            answer = response.json() if response.status_code == 200 else {}
            if response.status_code != 200 or answer.get("errors") or not side.check(answer.get("data") or {}):
                raise RuntimeError(f"{side.name}: bad answer {response.status_code} {response.text[:500]} to {body[:300]}")


def compare(ctx: BenchContext, scenario: str, sides: list[Side]) -> dict[str, list[LoadResult]]:
    """Measured runs per side (plan.runs each, alternating), after a preflight and a warm-up."""
    plan = ctx.plan
    for side in sides:
        preflight(side)
        run_load(side.service.url, side.workload, seconds=plan.warmup, connections=plan.connections, server_pids={})
    results: dict[str, list[LoadResult]] = {side.name: [] for side in sides}
    for number in range(plan.runs):
        for side in sides:
            pids = {"server": side.service.pid, **side.watch}
            result = run_load(
                side.service.url, side.workload, seconds=plan.seconds, connections=plan.connections, server_pids=pids
            )
            results[side.name].append(result)
            ctx.loadgen.append({"scenario": scenario, "side": side.name, "run": number + 1, **result.as_dict()})
            shares = ", ".join(f"{name} {share:.0%}" for name, share in result.server_cpu.items())
            ctx.log(
                f"{scenario} {side.name} run {number + 1}: {result.rps:,.0f} req/s p50 {result.p50_ms:.2f} ms "
                f"p99 {result.p99_ms:.2f} ms failed {result.failed} | CPU: {result.tool} {result.loadgen_cpu:.0%}, {shares}"
            )
            if result.failed or result.socket_errors:
                raise RuntimeError(
                    f"{scenario} {side.name}: {result.failed} failed answers, {result.socket_errors} socket errors"
                )
    return results
