"""`python -m bench [--quick] [--only 1,3,...]`: set up, start everything on loopback, run
the scenarios, print the table, write bench/results/<timestamp>.json, clean up."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from bench import servers
from bench.cluster import Cluster
from bench.context import BenchContext
from bench.load import have_wrk
from bench.plan import FULL, QUICK, Plan
from bench.procstat import machine
from bench.report import table, write_json
from bench.scenarios import (
    append,
    blue_green,
    catch_up,
    create_order,
    lists,
    memory,
    order_by_id,
    read_your_writes,
    subscriptions,
)

HERE = Path(__file__).resolve().parent
Scenario = Callable[[BenchContext], Awaitable[None]]
# In the order they run: the append bench on its own database, the catch-up that also
# projects the shared data, reads before writes, subscriptions on a quiet system.
SCENARIOS: dict[str, tuple[str, Scenario]] = {
    "1": ("appends", append.run),
    "6": ("catch-up", catch_up.run),
    "3": ("order(orderId)", order_by_id.run),
    "4": ("customerOrders / searchOrders", lists.run),
    "2": ("createOrder", create_order.run),
    "5": ("read-your-writes", read_your_writes.run),
    "7": ("subscriptions", subscriptions.run),
    "8": ("memory", memory.run),
    "9": ("blue-green rebuild", blue_green.run),
}
NEEDS_DATA = {"2", "3", "4", "5", "6", "7", "8", "9"}


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every scenario for a second or two, one run each")
    parser.add_argument("--only", help="comma-separated scenario numbers (default: all)")
    parser.add_argument("--runs", type=int, help="repetitions per figure (default 3, quick 1)")
    parser.add_argument("--seconds", type=float, help="seconds per HTTP load run")
    parser.add_argument("--orders", type=int, help="orders to load (events = orders x 10)")
    parser.add_argument("--subscriptions", type=int, help="scenario 7's open subscriptions")
    parser.add_argument("--commands", type=int, help="scenario 5's commands per run")
    parser.add_argument("--skip-setup", action="store_true", help="do not run bench/setup.sh")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("ORDERLY_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="an admin connection; the bench creates and drops its own databases on that server",
    )
    parser.add_argument("--redis-url", default=os.environ.get("ORDERLY_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"))
    return parser.parse_args(argv)


def _plan(arguments: argparse.Namespace) -> Plan:
    plan = QUICK if arguments.quick else FULL
    changes = {
        name: value
        for name, value in (
            ("runs", arguments.runs), ("seconds", arguments.seconds), ("orders", arguments.orders),
            ("subscriptions", arguments.subscriptions), ("commands", arguments.commands),
        )
        if value is not None
    }
    return replace(plan, **changes)


def _setup(ctx: BenchContext) -> None:
    try:
        done = subprocess.run(["bash", str(HERE / "setup.sh")], capture_output=True, text=True, timeout=600, check=False)
        output = (done.stdout + done.stderr).strip()
    except (OSError, subprocess.SubprocessError) as error:
        output = f"setup failed: {error!r}"
    if output:
        ctx.log(output)
    ctx.details["setup"] = output


async def _postgres_version(url: str) -> str:
    connection = await asyncpg.connect(url, timeout=5)
    try:
        return str(await connection.fetchval("SHOW server_version"))
    finally:
        await connection.close()


async def main(arguments: argparse.Namespace) -> int:
    """Run the chosen scenarios; 0 when every one of them ran, 1 otherwise."""
    plan = _plan(arguments)
    chosen = [number.strip() for number in arguments.only.split(",")] if arguments.only else list(SCENARIOS)
    unknown = [number for number in chosen if number not in SCENARIOS]
    if unknown:
        print(f"unknown scenario(s): {', '.join(unknown)}; known: {', '.join(sorted(SCENARIOS))}", file=sys.stderr)
        return 2
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    started_at = datetime.now(UTC)
    log_dir = Path(tempfile.mkdtemp(prefix="orderly-bench-logs-"))
    cluster = Cluster(arguments.postgres_url, arguments.redis_url, log_dir)
    ctx = BenchContext(plan=plan, cluster=cluster)
    ctx.log(f"{plan.describe()}; process logs in {log_dir}")
    if not arguments.skip_setup:
        _setup(ctx)
    errors: dict[str, str] = {}
    try:
        postgres = await _postgres_version(arguments.postgres_url)
        for number in [n for n in SCENARIOS if n in chosen]:
            name, scenario = SCENARIOS[number]
            if number in NEEDS_DATA and not ctx.database_url:
                if "prepare" in errors:
                    errors[number] = "skipped: the shared data could not be prepared"
                    continue
                try:
                    await catch_up.prepare(ctx)
                    if number != "6":
                        await catch_up.project_all(ctx, 1)
                except Exception as error:  # noqa: BLE001 - report and go on
                    errors["prepare"] = f"{error!r}"
                    traceback.print_exc()
                    errors[number] = "skipped: the shared data could not be prepared"
                    continue
            if number == "7":
                servers.stop(ctx, "api")  # scenario 7 starts its own API process; keep the CPU for it
            ctx.log(f"scenario {number}: {name}")
            try:
                await scenario(ctx)
            except Exception as error:  # noqa: BLE001 - one broken scenario must not hide the others
                errors[number] = f"{error!r}"[:2000]
                traceback.print_exc()
                for service in ctx.cluster.services:
                    if not service.alive:
                        print(f"--- {service.name} exited:\n{service.log()}", file=sys.stderr)
    finally:
        await asyncio.shield(cluster.close())
    finished_at = datetime.now(UTC)
    tool = "wrk" if have_wrk() else "python (wrk missing)"
    runs_note = plan.describe() + f"; load generator: {tool}"
    text = table(ctx.figures, runs_note=runs_note)
    print(text)
    _print_extras(ctx, errors)
    path = write_json({
        "mode": "quick" if plan.quick else "full",
        "started_at": started_at.isoformat(),
        "finished_at": finished_at.isoformat(),
        "duration_s": (finished_at - started_at).total_seconds(),
        "plan": plan.__dict__,
        "machine": {**machine(), "postgres": postgres},
        "load_generator": tool,
        "scenarios": {number: SCENARIOS[number][0] for number in chosen},
        "figures": [figure.as_dict() for figure in ctx.figures],
        "loadgen": ctx.loadgen,
        "details": ctx.details,
        "unavailable": ctx.unavailable,
        "errors": errors,
        "table": text,
    })
    print(f"results: {path}")
    return 1 if errors else 0


def _print_extras(ctx: BenchContext, errors: dict[str, str]) -> None:
    if ctx.loadgen:
        worst = max(ctx.loadgen, key=lambda entry: entry["loadgen_cpu"])
        print(
            f"load generator CPU share: at most {worst['loadgen_cpu']:.0%} of one core "
            f"({worst['scenario']}, {worst['side']}); server CPU per run is in the JSON (loadgen[].server_cpu)"
        )
    for ryw in (ctx.details.get("read_your_writes") or {}).values():
        print(
            f"read-your-writes over {ryw['commands']:,} notifications at {ryw['rate']:g}/s through {ryw['writers']} "
            f"writing API(s), {ryw['sockets']} sockets: p50 {ryw['p50_ms']:.2f} ms, p99 {ryw['p99_ms']:.2f} ms, "
            f"max {ryw['max_ms']:.2f} ms; {ryw['late']} over 100 ms, {ryw['refused']} refused, {ryw['errors']} errors, "
            f"{ryw['missing']} missing, {ryw['failed_commands']} failed commands ({ryw['negative_clamped']} clamped at 0)"
        )
    for name, reason in ctx.unavailable.items():
        print(f"baseline {name} unavailable: {reason}")
    for number, error in errors.items():
        print(f"scenario {number} FAILED: {error}")


def run(argv: list[str] | None = None) -> int:
    """Entry point."""
    arguments = _arguments(argv)
    started = time.monotonic()
    try:
        code = asyncio.run(main(arguments))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("bench interrupted; processes stopped and databases dropped", file=sys.stderr)
        return 130
    print(f"bench took {time.monotonic() - started:.0f} s", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(run())
