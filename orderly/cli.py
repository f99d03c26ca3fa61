"""The `orderly` command: serve, migrate, project, status, rebuild, parked, persisted, schema, token."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from functools import partial

from orderly.auth.settings import describe, open_serve_refusal
from orderly.bootstrap import build_container
from orderly.gc_tuning import freeze_startup_objects, frozen_heap
from orderly.log_config import configure_logging
from orderly.metrics_exporter import MetricsExporter
from orderly.migrate import migrate
from orderly.settings import Settings, SettingsError
from orderly.tracing_setup import configure_tracing
from projections.registry import PROJECTIONS
from schema.principal import Role

logger = logging.getLogger("orderly")

UNTOUCHED = "the live generation is untouched; run the command again to resume the rebuild"


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
    configure_logging(settings.log_level, settings.log_format)
    try:
        configure_tracing()  # OpenTelemetry, with OTEL_EXPORTER_OTLP_ENDPOINT set and orderly[otel] installed
    except SettingsError as error:
        parser.error(str(error))
    return int(args.run(args, settings) or 0)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from orderly.app import create_app
    from orderly.serving import uvicorn_config
    from resolvers.subscription_tally import SUBSCRIPTIONS

    refusal = open_serve_refusal(settings.auth, settings.host)
    if refusal is not None:
        print(f"orderly serve: {refusal}", file=sys.stderr)
        return 2
    if args.no_projectors:
        settings = settings.with_changes(run_projectors=False)
    if settings.is_embedded:
        asyncio.run(migrate(settings.database_url))
    # The process starts here, so it may freeze its heap once the services have started, and
    # keep freezing what its open subscriptions hold.
    try:
        app = create_app(settings, after_start=lambda: frozen_heap(SUBSCRIPTIONS))
    except SettingsError as error:  # e.g. a JWK Set file that cannot be read
        print(f"orderly serve: {error}", file=sys.stderr)
        return 2
    label = "GraphiQL" if settings.graphiql else "GraphQL endpoint (GraphiQL off)"
    print(f"Orderly {label}: http://{settings.host}:{settings.port}/graphql ({describe(settings.auth)})", flush=True)
    config = uvicorn_config(app, settings, host=settings.host, port=settings.port, log_level=settings.log_level.lower())
    server = uvicorn.Server(config)
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the Ctrl-C it handled, as uvicorn.run ignores it
        server.run()
    return 0 if server.started else 3  # uvicorn.run's exit status when start-up failed


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    asyncio.run(migrate(settings.database_url))
    print(f"migrated {settings.database_url}")
    return 0


def _project(args: argparse.Namespace, settings: Settings) -> int:
    async def run() -> None:
        container = build_container(settings.with_changes(run_projectors=True), api=False)
        exporter = MetricsExporter(container, settings.metrics)  # serves only on ORDERLY_METRICS_PORT
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await container.start()
        try:
            await exporter.start()
            freeze_startup_objects()
            logger.info("projectors running against %s", settings.database_url)
            await stop.wait()
        finally:
            await exporter.stop()
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
    from orderly.rebuild_progress import describe

    async def run() -> int:
        container = build_container(settings, api=False)
        try:
            statuses = await container.statuses()
        finally:
            await container.database.dispose()
        print(f"{'projection':<22} {'state':<12} {'position':>10} {'head':>10} {'lag':>8} {'parked':>7}  last error")
        for status in statuses:
            print(
                f"{status.name:<22} {status.state:<12} {status.position:>10} {status.head_position:>10} "
                f"{status.lag:>8} {status.parked_streams:>7}  {status.last_error or ''}"
            )
            if status.rebuild is not None:
                print(f"  rebuilding {describe(status.rebuild)}")
        return 0

    return asyncio.run(run())


def _rebuild(args: argparse.Namespace, settings: Settings) -> int:
    if args.in_place:
        return _rebuild_in_place(args, settings)

    async def run() -> int:
        from orderly.rebuild_progress import RebuildProgressBar
        from projections.rebuild_together import rebuild_together
        from projections.status import get_status

        names = list(dict.fromkeys(args.name))
        container = build_container(settings.with_changes(run_projectors=False), api=False)
        await container.start()  # the bus only: its RESYNC tells every process to read the new generation
        try:
            with RebuildProgressBar(names[0]) as bar:
                followers = [
                    asyncio.create_task(bar.follow(partial(get_status, container.read_models, container.store, name), name))
                    for name in names
                ]
                try:
                    # Several names: one process fills them all at once from one read of the log (rebuild_together.py).
                    outcomes = await rebuild_together([container.rebuild(name) for name in names])
                finally:
                    for follower in followers:
                        follower.cancel()
                    await asyncio.gather(*followers, return_exceptions=True)
                for outcome in outcomes:
                    bar.finish(outcome.position, outcome.name)
        finally:
            await container.stop()
        for outcome in outcomes:
            dropped = (
                f"generation {outcome.generation - 1} dropped"
                if outcome.dropped
                else f"generation {outcome.generation - 1} still in use: the next rebuild drops it"
            )
            print(
                f"projection {outcome.name} switched to generation {outcome.generation} (version {outcome.version})"
                f" at position {outcome.position}; {dropped}"
            )
        return 0

    from projections.leadership import LeaseLostError
    from projections.switch import RebuildError

    try:
        # A rebuild is a catch-up from zero, CPU-bound as the projector's: the same fast loop.
        with asyncio.Runner(loop_factory=_fast_loop_factory()) as runner:
            return runner.run(run())
    except KeyboardInterrupt:
        print(f"orderly rebuild: interrupted; {UNTOUCHED}", file=sys.stderr)
        return 130
    except (RebuildError, LeaseLostError) as error:
        print(f"orderly rebuild: {error}; {UNTOUCHED}", file=sys.stderr)
        return 1


def _rebuild_in_place(args: argparse.Namespace, settings: Settings) -> int:
    async def run() -> None:
        from projections.rebuild import rebuild

        container = build_container(settings.with_changes(run_projectors=False), api=False)
        await container.start()  # the bus only: its RESYNC wakes the running projectors at once
        try:
            for name in dict.fromkeys(args.name):
                await rebuild(container.read_models, name, bus=container.bus)
                print(f"projection {name} reset to position 0; the running projectors replay the log")
        finally:
            await container.stop()

    asyncio.run(run())
    return 0


def _parked(args: argparse.Namespace, settings: Settings) -> int:
    from orderly.parked_command import run_parked

    return asyncio.run(run_parked(args, settings))


def _persisted(args: argparse.Namespace, settings: Settings) -> int:
    from orderly.persisted_command import run_persisted

    return asyncio.run(run_persisted(args, settings))


def _print_schema(args: argparse.Namespace, settings: Settings) -> int:
    from resolvers.graphql_schema import build_schema

    print(str(build_schema()))
    return 0


def _token(args: argparse.Namespace, settings: Settings) -> int:
    from orderly.auth.tokens import issue_token

    auth = settings.auth
    if auth.jwt_secret is None:
        print("orderly token: no ORDERLY_AUTH_JWT_SECRET is set, so there is no key to sign with", file=sys.stderr)
        return 2
    if args.customer_id is not None and auth.customer_claim == "sub" and args.customer_id != args.sub:
        print(
            "orderly token: with ORDERLY_AUTH_CUSTOMER_CLAIM=sub (the default) the customer id is the subject; "
            "set ORDERLY_AUTH_CUSTOMER_CLAIM (e.g. customer_id) to give another",
            file=sys.stderr,
        )
        return 2
    token = issue_token(
        auth.jwt_secret,
        subject=args.sub,
        roles=args.role or [],
        ttl=args.ttl,
        customer_id=None if auth.customer_claim == "sub" else args.customer_id,
        issuer=auth.issuer,
        audience=auth.audience,
        customer_claim=auth.customer_claim,
    )
    print(token)
    return 0


def _duration(raw: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = raw.strip().lower()
    try:
        seconds = float(text[:-1]) * units[text[-1]] if text and text[-1] in units else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a duration like 90s, 30m, 1h or 7d") from None
    if not 0 < seconds <= 366 * 86400:
        raise argparse.ArgumentTypeError(f"{raw!r}: a duration above 0 and at most 366d")
    return seconds


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
    rebuild = command(
        "rebuild", "rebuild projections blue-green: fill a new generation beside the live one, then switch", _rebuild
    )
    rebuild.add_argument(
        "name", nargs="+", choices=list(PROJECTIONS), help="the projection; several are filled at once, in one read of the log"
    )
    rebuild.add_argument(
        "--in-place", action="store_true", help="stop-the-world (development): readers see it empty, then filling"
    )
    rebuild.add_argument("--redis-url", help="overrides ORDERLY_REDIS_URL")
    parked = command("parked", "list parked streams, or ask the projectors to retry or skip one", _parked)
    parked.add_argument("action", choices=["list", "retry", "skip"], help="list, retry STREAM or skip STREAM")
    parked.add_argument("stream", nargs="?", help="the parked stream (an order id), for retry and skip")
    parked.add_argument("--projection", choices=list(PROJECTIONS), help="only this projection (default: all)")
    parked.add_argument("--redis-url", help="overrides ORDERLY_REDIS_URL (to wake the projectors at once)")
    persisted = command("persisted", "add documents to the persisted-query allow-list, list or remove them", _persisted)
    persisted.add_argument("action", choices=["add", "list", "remove"], help="add FILE..., list, or remove HASH...")
    persisted.add_argument("items", nargs="*", help=".graphql files or manifest .json files to add; hashes to remove")
    persisted.add_argument("--all", action="store_true", help="list: clients' APQ documents too")
    command("schema", "print the served GraphQL SDL (kept in schema/schema.graphql)", _print_schema)
    token = command("token", "print an HS256 token signed with ORDERLY_AUTH_JWT_SECRET", _token)
    token.add_argument("--sub", required=True, help="the subject (who the caller is)")
    token.add_argument("--role", action="append", choices=[role.value for role in Role], help="a role (repeatable)")
    token.add_argument("--ttl", type=_duration, default=3600.0, help="how long it is valid: 90s, 30m, 1h (default), 7d")
    token.add_argument("--customer-id", help="the customer it acts as (the claim ORDERLY_AUTH_CUSTOMER_CLAIM names)")
    return parser


if __name__ == "__main__":
    sys.exit(main())
