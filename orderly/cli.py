"""The `orderly` command: serve, migrate, project, status."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Sequence

from orderly.bootstrap import build_container
from orderly.gc_tuning import freeze_startup_objects
from orderly.migrate import migrate
from orderly.settings import Settings, SettingsError

logger = logging.getLogger("orderly")


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the chosen command."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_mapping().with_changes(
            database_url=args.database_url,
            redis_url=getattr(args, "redis_url", None),
            host=getattr(args, "host", None),
            port=getattr(args, "port", None),
        )
    except SettingsError as error:
        parser.error(str(error))
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return int(args.run(args, settings) or 0)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from orderly.app import create_app

    if args.no_projectors:
        settings = settings.with_changes(run_projectors=False)
    if settings.is_embedded:
        asyncio.run(migrate(settings.database_url))
    # The process starts here, so it may freeze its heap once the services have started.
    app = create_app(settings, after_start=freeze_startup_objects)
    label = "GraphiQL" if settings.graphiql else "GraphQL endpoint (GraphiQL off)"
    print(f"Orderly {label}: http://{settings.host}:{settings.port}/graphql", flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level.lower(), lifespan="on")
    return 0


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    asyncio.run(migrate(settings.database_url))
    print(f"migrated {settings.database_url}")
    return 0


def _project(args: argparse.Namespace, settings: Settings) -> int:
    async def run() -> None:
        container = build_container(settings.with_changes(run_projectors=True), api=False)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await container.start()
        freeze_startup_objects()
        logger.info("projectors running against %s", settings.database_url)
        try:
            await stop.wait()
        finally:
            await container.stop()

    if settings.is_embedded:
        asyncio.run(migrate(settings.database_url))
    # The projector is CPU-bound while it catches up: uvloop (which uvicorn already brings
    # for `serve`) when installed, asyncio's own loop otherwise.
    with asyncio.Runner(loop_factory=_fast_loop_factory()) as runner:
        runner.run(run())
    return 0


def _fast_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _status(args: argparse.Namespace, settings: Settings) -> int:
    async def run() -> int:
        container = build_container(settings, api=False)
        try:
            statuses = await container.statuses()
        finally:
            await container.database.dispose()
        print(f"{'projection':<22} {'state':<12} {'position':>10} {'head':>10} {'lag':>8}  last error")
        for status in statuses:
            print(
                f"{status.name:<22} {status.state:<12} {status.position:>10} {status.head_position:>10} "
                f"{status.lag:>8}  {status.last_error or ''}"
            )
        return 0

    return asyncio.run(run())


def _print_schema(args: argparse.Namespace, settings: Settings) -> int:
    from resolvers.graphql_schema import build_schema

    print(str(build_schema()))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="orderly", description="A CQRS / event-sourced GraphQL server for orders.")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str, run: object) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--database-url", help="overrides ORDERLY_DATABASE_URL")
        sub.set_defaults(run=run)
        return sub

    serve = command("serve", "run the GraphQL API (and, unless --no-projectors, the projectors)", _serve)
    serve.add_argument("--host", help="overrides ORDERLY_HOST")
    serve.add_argument("--port", type=int, help="overrides ORDERLY_PORT")
    serve.add_argument("--redis-url", help="overrides ORDERLY_REDIS_URL")
    serve.add_argument("--no-projectors", action="store_true", help="serve the API only")
    command("migrate", "create or upgrade the tables", _migrate)
    project = command("project", "run the projection runners without the API", _project)
    project.add_argument("--redis-url", help="overrides ORDERLY_REDIS_URL")
    command("status", "print each projection's state, position, head and lag", _status)
    command("schema", "print the served GraphQL SDL (kept in schema/schema.graphql)", _print_schema)
    return parser


if __name__ == "__main__":
    sys.exit(main())
