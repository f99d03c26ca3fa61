"""Build every collaborator from the settings; the app's lifespan and the CLI start and stop them."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

from domain.command_bus import CommandBus
from domain.ports import Clock
from eventstore.bus import NotificationBus
from eventstore.database import Database, create_database
from eventstore.local_bus import InProcessBus
from eventstore.postgres_store import PostgresEventStore
from eventstore.redis_bus import RedisBus
from eventstore.sql_store import SqlEventStore
from eventstore.sqlite_store import SqliteEventStore
from eventstore.trace_tap import AppendTraceTap
from orderly.settings import Settings
from projections.blue_green import BlueGreenRebuild
from projections.checkpoints import shadow_name
from projections.customer_summaries.queries import CustomerSummaryQueries
from projections.leadership import AdvisoryLease
from projections.order_views.queries import OrderViewQueries
from projections.order_views.search_index import PendingListCleaner
from projections.parking_desk import ParkingDesk
from projections.postgres_read_models import PostgresReadModels
from projections.projector import Projector
from projections.read_models import ReadModelStore
from projections.registry import PROJECTIONS
from projections.runner import LeaseFactory, ProjectionRunner
from projections.shared_log import SharedEventLog
from projections.sqlite_read_models import SqliteReadModels
from projections.status import ProjectionStatusView, get_status, projection_statuses
from projections.tracker import ProjectionTracker
from projections.upgrade import VersionUpgrade
from schema.context import Services
from schema.loaders import BatchedOrderReader

logger = logging.getLogger(__name__)


class SystemClock:
    """The wall clock, in UTC."""

    def now(self) -> datetime:
        """The current time."""
        return datetime.now(UTC)


@dataclass(frozen=True)
class Backend:
    """What differs between PostgreSQL and SQLite: the adapters, and the PostgreSQL-only helpers."""

    store: SqlEventStore
    read_models: ReadModelStore
    lease: Callable[[str], LeaseFactory] | None = None  # a projection's leadership lease, by name
    cleaner: PendingListCleaner | None = None  # the search index's upkeep, in a projector process


def open_backend(
    database: Database, bus: NotificationBus | None = None, *, projection_synchronous_commit: bool = False
) -> Backend:
    """The adapters for the database's backend: the one place that chooses them."""
    if database.is_postgres:
        return Backend(
            store=PostgresEventStore(database, bus),
            read_models=PostgresReadModels(database, synchronous_commit=projection_synchronous_commit),
            lease=lambda name: AdvisoryLease(database.url, name),
            cleaner=PendingListCleaner(database),
        )
    return Backend(store=SqliteEventStore(database, bus), read_models=SqliteReadModels(database))


def open_event_store(database: Database, bus: NotificationBus | None = None) -> SqlEventStore:
    """The event store for the database's backend."""
    return open_backend(database, bus).store


def open_read_models(database: Database) -> ReadModelStore:
    """The read models' statements for the database's backend."""
    return open_backend(database).read_models


def new_id() -> str:
    """A fresh UUID for an order or a command."""
    return str(uuid.uuid4())


@dataclass
class Container:
    """Everything one process runs, in the order it starts."""

    settings: Settings
    database: Database
    bus: NotificationBus
    store: SqlEventStore
    read_models: ReadModelStore
    tracker: ProjectionTracker | None
    runners: list[ProjectionRunner]
    services: Services | None
    cleaner: PendingListCleaner | None = None
    trace_tap: AppendTraceTap | None = None  # with runners: links their batch spans to the appends
    lease: Callable[[str], LeaseFactory] | None = None  # PostgreSQL's advisory-lock lease, by checkpoint name
    upgrades: list[VersionUpgrade] = field(default_factory=list)
    started: bool = field(default=False)

    async def start(self) -> None:
        """Connect the bus, then start the tracker, the projection runners and their version upgrades."""
        await self.bus.start()
        if self.trace_tap is not None:
            await self.trace_tap.start()
        if self.tracker is not None:
            await self.tracker.start()
        for runner in self.runners:
            await runner.start()
        for upgrade in self.upgrades:
            await upgrade.start()
        if self.cleaner is not None:
            await self.cleaner.start()
        self.started = True

    def rebuild(self, name: str, projector: Projector | None = None) -> BlueGreenRebuild:
        """A blue-green rebuild of the projection `name` (KeyError for an unknown one), under its lease."""
        return BlueGreenRebuild(
            name=name,
            projector=PROJECTIONS[name] if projector is None else projector,
            read_models=self.read_models,
            events=self.store,
            bus=self.bus,
            # The shadow's batches grow up to blue_green.FILL_BATCH_SIZE by themselves (nobody waits
            # for them); ORDERLY_MAX_BATCH_SIZE is the live runners' bound.
            batch_size=self.settings.batch_size,
            lease=None if self.lease is None else self.lease(shadow_name(name)),
            park_after=self.settings.projection_retries,
        )

    async def stop(self) -> None:
        """Stop in reverse order and release connections."""
        if self.cleaner is not None:
            await self.cleaner.stop()
        for upgrade in reversed(self.upgrades):
            await upgrade.stop()
        for runner in reversed(self.runners):
            await runner.stop()
        if self.tracker is not None:
            await self.tracker.stop()
        if self.trace_tap is not None:
            await self.trace_tap.stop()
        await self.bus.close()
        await self.database.dispose()
        self.started = False

    async def readiness(self) -> dict[str, bool]:
        """Whether the database answers and the bus is connected."""
        return {"database": await self._database_answers(), "bus": self.bus.is_healthy()}

    async def statuses(self) -> list[ProjectionStatusView]:
        """Every projection's status."""
        return await projection_statuses(self.read_models, self.store)

    async def _database_answers(self) -> bool:
        try:
            async with self.database.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception as error:  # noqa: BLE001 - any failure means "not ready"
            logger.warning("readiness: database check failed: %r", error)
            return False


def build_container(
    settings: Settings,
    *,
    api: bool = True,
    overrides: Mapping[str, Any] | None = None,
) -> Container:
    """Make every collaborator for these settings; `overrides` replaces any by name (tests)."""
    overrides = dict(overrides or {})
    database: Database = overrides.pop("database", None) or create_database(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        statement_timeout=settings.transport_limits.statement_timeout,
    )
    bus: NotificationBus = overrides.pop("bus", None) or (
        RedisBus(settings.redis_url, namespace=settings.namespace) if settings.redis_url else InProcessBus()
    )
    clock: Clock = overrides.pop("clock", None) or SystemClock()
    make_id: Callable[[], str] = overrides.pop("new_id", None) or new_id
    projections: Mapping[str, Projector] = overrides.pop("projections", None) or PROJECTIONS
    if overrides:
        raise TypeError(f"unknown overrides: {', '.join(sorted(overrides))}")

    backend = open_backend(database, bus, projection_synchronous_commit=settings.projection_synchronous_commit)
    store, read_models = backend.store, backend.read_models
    shared_log = SharedEventLog(store)
    runners = (
        [
            ProjectionRunner(
                name,
                projector,
                read_models,
                shared_log,
                bus,
                batch_size=settings.batch_size,
                max_batch_size=settings.catch_up_batch_size,
                poll_interval=settings.poll_interval,
                lease=None if backend.lease is None else backend.lease(name),
                streams=store,
                park_after=settings.projection_retries,
            )
            for name, projector in projections.items()
        ]
        if settings.run_projectors
        else []
    )
    tracker = ProjectionTracker(bus, read_models, PROJECTIONS, poll_interval=settings.poll_interval) if api else None
    services = None
    if tracker is not None:
        orders = OrderViewQueries(read_models)
        services = Services(
            commands=CommandBus(store),
            clock=clock,
            store=store,
            orders=orders,
            order_reader=BatchedOrderReader(orders),
            customers=CustomerSummaryQueries(read_models),
            tracker=tracker,
            projection_names=tuple(PROJECTIONS),
            new_id=make_id,
            statuses=lambda: projection_statuses(read_models, store),
            status=lambda name: get_status(read_models, store, name),
            parking=ParkingDesk(read_models, bus),
        )
    container = Container(
        settings=settings,
        database=database,
        bus=bus,
        store=store,
        read_models=read_models,
        tracker=tracker,
        runners=runners,
        services=services,
        cleaner=backend.cleaner if runners else None,
        trace_tap=AppendTraceTap(bus) if runners else None,
        lease=backend.lease,
    )
    # A projector process rebuilds (blue-green) a projection whose code version is not the live one's.
    container.upgrades = [VersionUpgrade(container.rebuild(name, projections[name])) for name in (r.name for r in runners)]
    return container
