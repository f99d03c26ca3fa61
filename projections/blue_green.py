"""A blue-green rebuild: fill the next generation beside the live one, then switch.

The shadow is a checkpoint row of its own (`<name>@next`, holding generation N+1 and the
projector's version) and an ordinary ProjectionRunner bound to the new tables, filling them
from position 0 while the live runner keeps following the log. The new tables are filled with
only their primary keys; the other indexes are built over the filled tables once, when the
catch-up first reaches the end of the log (an index a killed run had built already is kept).
When the shadow's catch-up reaches the end of the log (its last batch was short: within one
batch of the head), the switch (projections/switch.py) makes it live in one transaction;
then everyone is told to re-read (RESYNC) and the old generation's tables are dropped.

Kill -9 at any line: the live generation is untouched until the switch commits, and the
switch is one transaction. A new run resumes from the shadow checkpoint (each batch commits
with it) when the shadow is the generation and version this run would build, and starts
over cleanly (drop, recreate) when it is not. Tables of generations that are neither live
nor the shadow (a drop that gave up, an abandoned shadow) are dropped when a run starts.

Under a lease (a PostgreSQL advisory lock on `<name>@next`), only one rebuild of a
projection runs at a time, across processes.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, update
from sqlalchemy.exc import DBAPIError, OperationalError

from eventstore.bus import EVENTS_CHANNEL, NotificationBus, projection_channel
from eventstore.local_bus import InProcessBus
from eventstore.messages import RESYNC
from projections.checkpoints import (
    Checkpoint,
    ProjectionState,
    ensure_checkpoint,
    projection_checkpoints,
    read_checkpoint,
    shadow_name,
)
from projections.generations import create_generation, create_indexes, drop_generation, existing_generations
from projections.parked_streams import parked_streams
from projections.parking import DEFAULT_RETRIES
from projections.postgres_shadow_fill import shadow_fill
from projections.projector import EventLog, Projector
from projections.read_models import ReadModelStore
from projections.runner import LeaseFactory, ProjectionRunner
from projections.switch import MAX_CATCH_UP, switch

log = logging.getLogger(__name__)

DROP_ATTEMPTS = 5
# The shadow's batches grow up to this: nobody waits for them, and a larger batch writes each row
# fewer times (an order's events span several batches) and copies more of them in as new rows
# (postgres_shadow_fill.py). Measured on 200k events: 5,000 -> 20,000 took the order_views fill's
# commits from 2.8 to 1.5-2.3 s; 50,000 gained nothing more.
FILL_BATCH_SIZE = 20_000
DROP_LOCK_TIMEOUT_MS = 2000


@dataclass(frozen=True, kw_only=True)
class RebuildOutcome:
    """What a rebuild run did: the generation now live, and whether the old one is gone."""

    name: str
    generation: int
    version: int
    position: int
    dropped: bool
    rebuilt: bool = True


@dataclass(frozen=True, kw_only=True)
class BlueGreenRebuild:
    """Rebuilds one projection blue-green (see the module docstring)."""

    name: str
    projector: Projector
    read_models: ReadModelStore
    events: EventLog
    bus: NotificationBus | None = None
    batch_size: int = 500
    max_batch_size: int | None = None  # the shadow runner grows its batches up to this (runner.py) ...
    fill_batch_size: int = FILL_BATCH_SIZE  # ... or up to this, whichever is larger
    lease: LeaseFactory | None = None
    max_catch_up: int = MAX_CATCH_UP
    park_after: int = DEFAULT_RETRIES
    retry_base: float = 0.1
    retry_max: float = 5.0

    async def run(self, *, only_if_outdated: bool = False) -> RebuildOutcome:
        """Build the next generation and switch to it (with only_if_outdated: only when the live
        version differs from the projector's); returns what is live afterwards."""
        async with self.lease() if self.lease is not None else nullcontext():
            live = await self._live()
            if only_if_outdated and live.version == self.projector.version:
                return RebuildOutcome(
                    name=self.name,
                    generation=live.generation,
                    version=live.version,
                    position=live.position,
                    dropped=True,
                    rebuilt=False,
                )
            await self.prepare(live)
            # Its batches need no announcement (nobody reads the shadow): a bus without subscribers.
            shadow = ProjectionRunner(
                shadow_name(self.name),
                self.projector,
                shadow_fill(self.read_models),  # new rows by COPY (postgres_shadow_fill.py)
                self.events,
                InProcessBus(),
                batch_size=self.batch_size,
                max_batch_size=max(self.batch_size, self.max_batch_size or 0, self.fill_batch_size),
                create_checkpoint=False,
                park_after=self.park_after,
            )
            indexed = False
            while True:
                await self._catch_up(shadow)  # returns once a batch was short: within one batch of the head
                if not indexed:
                    await self.index(live.generation + 1)
                    indexed = True
                    # The live runner moved on meanwhile: catch up again, so the switch has as few
                    # events to apply under its lock as without the index build.
                    continue
                switched = await switch(self.read_models, self.events, self.name, self.projector, max_catch_up=self.max_catch_up)
                if switched is not None:
                    break
            if self.bus is not None:
                # Trackers and orderProjected re-read; live runners re-read their checkpoint and rebind.
                await self.bus.publish(projection_channel(self.name), RESYNC)
                await self.bus.publish(EVENTS_CHANNEL, RESYNC)
            # Still under the lease: a rebuild that starts next must not see its new tables dropped.
            dropped = await self.drop_retired(keep=switched.generation)
        return RebuildOutcome(
            name=self.name,
            generation=switched.generation,
            version=switched.version,
            position=switched.position,
            dropped=dropped,
        )

    async def _catch_up(self, shadow: ProjectionRunner) -> None:
        # A poison event fails the batch until the runner's parking has seen it park_after times
        # (then its stream is parked and the rest goes on); anything else is retried with backoff.
        # A vanished shadow checkpoint (LookupError: another rebuild started over) ends this one.
        delay = self.retry_base
        while True:
            try:
                await shadow.catch_up()
                return
            except LookupError:
                raise
            except Exception as error:
                log.warning("projection %s: rebuild batch failed, retrying in %.1f s: %s", self.name, delay, error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry_max)

    async def index(self, generation: int) -> None:
        """Build the shadow generation's secondary indexes over its filled tables (it was filled with
        only its primary keys); those a resumed run built already are left as they are."""
        async with self.read_models.database.write_engine.begin() as conn:
            await create_indexes(conn, self.projector, generation)
        log.warning("projection %s: indexes of generation %d built", self.name, generation)

    async def drop_retired(self, *, keep: int) -> bool:
        """Drop every generation but `keep` (and a shadow being built); False if one is still in use.

        A DROP waits for the readers still on the table; on PostgreSQL it gives up after a lock
        timeout and tries again a few times rather than queue every later reader behind it. What
        is left is dropped by the next rebuild run.
        """
        async with self.read_models.reader.connect() as conn:
            upcoming = await read_checkpoint(conn, shadow_name(self.name))
            retired = await existing_generations(conn, self.projector)
        retired -= {keep} | ({upcoming.generation} if upcoming is not None else set())
        for generation in sorted(retired):
            for attempt in range(1, DROP_ATTEMPTS + 1):
                try:
                    async with self.read_models.database.write_engine.begin() as conn:
                        if conn.dialect.name == "postgresql":
                            await conn.exec_driver_sql(f"SET LOCAL lock_timeout = {DROP_LOCK_TIMEOUT_MS}")
                        await drop_generation(conn, self.projector, generation)
                    break
                except (OperationalError, DBAPIError):
                    log.warning("projection %s: generation %d still in use (attempt %d)", self.name, generation, attempt)
                    await asyncio.sleep(0.2 * attempt)
            else:
                return False
        return True

    async def _live(self) -> Checkpoint:
        async with self.read_models.database.write_engine.begin() as conn:
            await ensure_checkpoint(self.read_models, conn, self.name, version=self.projector.version)
            live = await read_checkpoint(conn, self.name)
        assert live is not None
        return live

    async def prepare(self, live: Checkpoint) -> None:
        """Resume the shadow if it is this run's generation and version; otherwise start it over, empty."""
        target, name = live.generation + 1, shadow_name(self.name)
        async with self.read_models.database.write_engine.begin() as conn:
            upcoming = await read_checkpoint(conn, name)
            existing = await existing_generations(conn, self.projector)
            resume = (
                upcoming is not None
                and upcoming.generation == target
                and upcoming.version == self.projector.version
                and target in existing
            )
            for generation in sorted(existing - {live.generation}):
                if not (resume and generation == target):
                    await drop_generation(conn, self.projector, generation)
            now = datetime.now(UTC)
            if resume:
                assert upcoming is not None
                await conn.execute(
                    update(projection_checkpoints)
                    .where(projection_checkpoints.c.name == name)
                    .values(state=ProjectionState.REBUILDING.value, started_at=now, start_position=upcoming.position)
                )
                log.warning("projection %s: resuming the rebuild of generation %d at %d", self.name, target, upcoming.position)
                return
            # Only the primary keys while it fills: index() builds the rest before the switch.
            await create_generation(conn, self.projector, target, indexes=False)
            await conn.execute(delete(projection_checkpoints).where(projection_checkpoints.c.name == name))
            # A shadow started over folds from scratch: what an abandoned one parked is no longer true.
            await conn.execute(delete(parked_streams).where(parked_streams.c.projection == name))
            await conn.execute(
                projection_checkpoints.insert().values(
                    name=name,
                    position=0,
                    state=ProjectionState.REBUILDING.value,
                    last_error=None,
                    updated_at=now,
                    generation=target,
                    version=self.projector.version,
                    started_at=now,
                    start_position=0,
                )
            )
        log.warning("projection %s: building generation %d (version %d)", self.name, target, self.projector.version)
