"""The servers several scenarios share, started on first use and kept for the run: the
Orderly API on the loaded database, the naive ORM baseline and PostGraphile."""

from __future__ import annotations

import httpx

from bench import operations
from bench.baselines import postgraphile
from bench.cluster import Service
from bench.context import BenchContext
from bench.procstat import rss_bytes

WARM_REQUESTS = 20


def _warm_rss(service: Service, body: str) -> int:
    """RSS after a few requests (code paths imported, pools opened): the idle footprint."""
    with httpx.Client(timeout=10) as client:
        for _ in range(WARM_REQUESTS):
            client.post(service.url, content=body, headers={"content-type": "application/json"})
    return rss_bytes(service.pid)


def _sample_order_body(query: str, variable: str = "id") -> str:
    from bench.dataset import order_id

    return operations.body(query, {variable: order_id(0)})


def orderly_api(ctx: BenchContext) -> Service:
    """`orderly serve --no-projectors` on the loaded database (the projector runs apart)."""
    if "api" not in ctx.services:
        service = ctx.cluster.api("api-a", ctx.database_url)
        ctx.details["rss_api_started"] = rss_bytes(service.pid)
        ctx.details["rss_api_idle"] = _warm_rss(service, _sample_order_body(operations.ORDER_BY_ID))
        ctx.services["api"] = service
    return ctx.services["api"]


def orm_baseline(ctx: BenchContext) -> Service:
    """The naive strawberry + SQLAlchemy ORM app on the loaded database."""
    if "orm" not in ctx.services:
        service = ctx.cluster.uvicorn(
            "naive-orm", "bench.baselines.naive_orm:app", {"BENCH_DATABASE_URL": ctx.database_url}
        )
        ctx.details["rss_orm_idle"] = _warm_rss(service, _sample_order_body(operations.ORDER_BY_ID))
        ctx.services["orm"] = service
    return ctx.services["orm"]


def postgraphile_server(ctx: BenchContext) -> Service | None:
    """PostGraphile on the loaded database, or None (the reason goes to ctx.unavailable)."""
    if "postgraphile" in ctx.services:
        return ctx.services["postgraphile"]
    if "postgraphile" in ctx.unavailable:
        return None
    reason = postgraphile.problem()
    if reason is None:
        try:
            service = postgraphile.start(ctx.cluster, ctx.database_url)
        except Exception as error:  # noqa: BLE001 - a missing baseline is reported, not fatal
            reason = f"could not start: {error}"[:300]
        else:
            ctx.details["rss_postgraphile_idle"] = _warm_rss(service, _sample_order_body(postgraphile.ORDER_BY_ID))
            ctx.services["postgraphile"] = service
            return service
    ctx.unavailable["postgraphile"] = reason
    ctx.log(f"PostGraphile baseline unavailable: {reason}")
    return None


def stop(ctx: BenchContext, role: str) -> None:
    """Stop a shared server to free its connections and CPU."""
    service = ctx.services.pop(role, None)
    if service is not None:
        ctx.cluster.stop(service)
