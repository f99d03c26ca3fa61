"""The ASGI app: /graphql, /healthz, /readyz, GraphiQL's assets, and a lifespan that starts and stops the services."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from eventstore import tracing
from orderly.auth.authenticator import Authenticator
from orderly.bootstrap import Container, build_container
from orderly.cors import cors_middleware
from orderly.graphiql.assets import asset_routes
from orderly.graphql_first import GRAPHQL_PATH, GraphQLFirst
from orderly.graphql_view import OrderlyGraphQL
from orderly.metrics_endpoint import metrics_route
from orderly.metrics_exporter import MetricsExporter
from orderly.persisted_queries import build_persisted_queries
from orderly.request_ids import RequestIds
from orderly.settings import Settings
from orderly.transport_guards import TransportGuards
from orderly.young_generation import roomy_young_generation
from resolvers.graphql_schema import build_schema
from resolvers.operation_metrics import OperationNames
from schema.order_batches import batched_order_reads
from schema.read_gate import gated_services


def operation_scope_wanted(settings: Settings) -> bool:
    """Whether operations open a log scope: only JSON lines show its fields, and spans need it."""
    return settings.log_format == "json" or tracing.enabled()


def create_app(
    settings: Settings | None = None,
    *,
    container: Container | None = None,
    after_start: Callable[[], AbstractAsyncContextManager[object]] | None = None,
) -> Starlette:
    """The whole server for these settings; nothing starts until the lifespan runs, which enters
    `after_start()` (the CLI's process-wide tuning) once the services have started and leaves it
    before they stop."""
    container = container or build_container(settings or Settings.from_mapping())
    if container.services is None:
        raise ValueError("the API needs a container built with api=True")
    settings = container.settings
    authenticator = Authenticator(settings.auth)
    graphql = OrderlyGraphQL(
        build_schema(
            introspection=settings.introspection,
            limits=settings.operation_limits,
            metrics=OperationNames(settings.metrics.operation_names) if settings.metrics.collecting else None,
            log_scope=operation_scope_wanted(settings),
        ),
        gated_services(batched_order_reads(container.services)),
        authenticator=authenticator,
        persisted_queries=build_persisted_queries(settings.persisted_queries, container.database),
        allowed_origins=settings.cors_origins,
        graphql_ide="graphiql" if settings.graphiql else None,
    )
    guards = TransportGuards.build(settings, graphql)
    exporter = MetricsExporter(container, settings.metrics)

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        checks = await container.readiness()
        ready = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "unavailable", "checks": checks},
            status_code=200 if ready else 503,
        )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await container.start()
        try:
            await exporter.start()
            async with AsyncExitStack() as tuning:
                tuning.enter_context(roomy_young_generation())
                if after_start is not None:
                    await tuning.enter_async_context(after_start())
                yield
        finally:
            await exporter.stop()
            await guards.close()
            await container.stop()

    app = Starlette(
        routes=[
            Route(GRAPHQL_PATH, graphql),  # the view answers other methods with a JSON 405
            WebSocketRoute(GRAPHQL_PATH, graphql),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            *(asset_routes() if settings.graphiql else []),
            *([metrics_route(exporter, authenticator)] if settings.metrics.enabled else []),
        ],
        middleware=[
            Middleware(RequestIds),
            *cors_middleware(settings.cors_origins),
            *guards.middleware,
            Middleware(GraphQLFirst, graphql=graphql),  # innermost: /graphql skips the router
        ],
        lifespan=lifespan,
    )
    app.state.container = container
    app.state.metrics = exporter
    return app
