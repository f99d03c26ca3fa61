"""Scenario 8: resident memory of an idle API process and of a projector process, with the
baselines' idle footprints beside them (all read from /proc/<pid>/status)."""

from __future__ import annotations

from bench.context import BenchContext
from bench.procstat import rss_bytes
from bench.report import Figure, Series

SCENARIO = "8 memory"
MB = 1024 * 1024


def _series(value: object) -> Series | None:
    return Series([value / MB]) if isinstance(value, int) and value > 0 else None


async def run(ctx: BenchContext) -> None:
    """Idle API (after a few requests) against the ORM app and PostGraphile; the projector."""
    details = ctx.details
    api = _series(details.get("rss_api_idle"))
    if api is not None:
        started = details.get("rss_api_started", 0) / MB
        ctx.add(Figure(SCENARIO, "idle API process RSS", "MB", "lower", api, _series(details.get("rss_orm_idle")),
                       baseline_name="naive ORM app", baseline_note="not started",
                       notes=f"{started:.0f} MB right after start; measured after {20} requests"))
        ctx.add(Figure(SCENARIO, "idle API process RSS", "MB", "lower", api,
                       _series(details.get("rss_postgraphile_idle")), baseline_name="PostGraphile",
                       baseline_note=f"unavailable: {ctx.unavailable.get('postgraphile', 'not started')}"))
    if ctx.projector is not None and ctx.projector.alive:
        now = rss_bytes(ctx.projector.pid)
        after = details.get("projector_rss_after_catch_up", 0) / MB
        events = ctx.dataset.events if ctx.dataset else 0
        ctx.add(Figure(SCENARIO, "projector process RSS", "MB", "lower", Series([now / MB]),
                       notes=f"idle at the end of the run; {after:.0f} MB right after catching up {events:,} events"))
