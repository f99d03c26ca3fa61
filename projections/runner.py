"""The projection runner: catch up from the checkpoint in batches, then wait for a doorbell.

Each batch is applied and the checkpoint advanced in ONE write transaction; the new
position is announced only after COMMIT. The checkpoint UPDATE comes first and is a
compare-and-set on the position the batch was read from, so of two runners racing on the
same projection only one commits a batch and the other re-reads. The bus only wakes the
runner early: a lost notice delays a batch by at most poll_interval.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import UTC, datetime

from domain.ports import RecordedEvent
from eventstore.bus import EVENTS_CHANNEL, NotificationBus, Subscription, projection_channel
from eventstore.database import Database
from eventstore.messages import EventsAppended, ProjectionAdvanced
from eventstore.tasks import BackgroundTask
from projections.bulk import single_statement_reader
from projections.checkpoints import Checkpoint, ProjectionState, ensure_checkpoint, read_checkpoint, set_state
from projections.commit import Upsert, commit_batch
from projections.projector import EventLog, Projector
from projections.rebuild import rebuild

log = logging.getLogger(__name__)

# Entered before the runner does anything and held while it runs: the seam for leadership
# (e.g. a PostgreSQL advisory-lock lease). Raising out of it ends the term; the runner
# retries entering it after a backoff.
LeaseFactory = Callable[[], AbstractAsyncContextManager[object]]
STOP_TIMEOUT = 5.0
HIDDEN_RETRY_BASE = 0.005
HIDDEN_RETRY_MAX = 0.25
# A live batch (the runner was caught up) slower than this, or whose oldest event waited
# longer than this from its append to the "projection advanced" notice, is logged with
# what it held: until there are metrics, that log line is how an operator sees a stall.
SLOW_BATCH_SECONDS = 0.1


class ProjectionRunner:
    """Keeps one projection caught up with the event log."""

    def __init__(
        self,
        name: str,
        projector: Projector,
        database: Database,
        store: EventLog,
        bus: NotificationBus,
        *,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        retry_base: float = 0.1,
        retry_max: float = 30.0,
        lease: LeaseFactory | None = None,
        slow_batch: float = SLOW_BATCH_SECONDS,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.name = name
        self._projector = projector
        self._database = database
        self._reader = single_statement_reader(database)
        self._store = store
        self._bus = bus
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._retry_base = retry_base
        self._retry_max = retry_max
        self._lease = lease
        self._slow_batch = slow_batch
        self._live = False  # caught up at least once this term: batch timings mean something
        self._task = BackgroundTask(self._run, f"projection:{name}")
        self._state = ProjectionState.STOPPED
        self._persisted: ProjectionState | None = None
        self._rebuilding = False
        self._active = False
        self._position = 0
        self._last_error: str | None = None
        self._failures = 0
        self._announced = 0
        self._hidden_retries = 0
        self._term_position: int | None = None

    @property
    def state(self) -> ProjectionState:
        """What the runner is doing now."""
        return self._state

    @property
    def position(self) -> int:
        """The last position this runner saw committed."""
        return self._position

    @property
    def last_error(self) -> str | None:
        """The error of the last failed attempt, until a batch succeeds."""
        return self._last_error

    @property
    def running(self) -> bool:
        """Whether the runner's task is alive."""
        return self._task.running

    async def start(self) -> None:
        """Start the runner's task (no-op when it is running)."""
        self._task.start()

    async def stop(self) -> None:
        """Cancel the task and wait for it; an open batch transaction rolls back."""
        await self._task.stop()
        if self._active:
            self._active = False
            try:
                async with asyncio.timeout(STOP_TIMEOUT):
                    await self._persist_state(ProjectionState.STOPPED, None)
            except Exception:
                log.warning("projection %s: could not record STOPPED", self.name, exc_info=True)
        self._state = ProjectionState.STOPPED

    async def rebuild(self) -> None:
        """Reset this projection to position 0 and clear its tables; the runner replays the log."""
        await rebuild(self._database, self.name, bus=self._bus, projections={self.name: self._projector})

    async def catch_up(self) -> int:
        """Apply every batch the log has now, from the stored checkpoint; returns how many events were applied."""
        self._term_position = None
        return await self._catch_up()

    async def _catch_up(self) -> int:
        # The checkpoint is read once per term (and after a lost compare-and-set): while the
        # runner leads, it alone moves the checkpoint, and a rebuild or a rival's commit
        # makes the next compare-and-set fail, which reads it again.
        if self._term_position is None:
            self._term_position = (await self._checkpoint()).position
        position = self._term_position
        applied = 0
        while True:
            started = time.perf_counter()
            events = await self._store.read_log(after=position, limit=self._batch_size)
            if not events:
                break
            if self._state is not ProjectionState.FAILED:
                self._state = ProjectionState.REBUILDING if self._rebuilding else ProjectionState.CATCHING_UP
            committed = await self._apply_batch(position, events, started)
            if committed is None:
                checkpoint = await self._checkpoint()
                log.info("projection %s: checkpoint moved by another runner to %d", self.name, checkpoint.position)
                position = self._term_position = checkpoint.position
                continue
            position = self._term_position = committed
            applied += len(events)
            if len(events) < self._batch_size:
                break
        self._position = position
        self._rebuilding = False
        self._live = True
        if self._persisted is not ProjectionState.RUNNING:
            await self._persist_state(ProjectionState.RUNNING, None)
        self._state = ProjectionState.RUNNING
        self._last_error = None
        self._failures = 0
        return applied

    async def _run(self) -> None:
        while True:
            try:
                async with self._lease() if self._lease is not None else nullcontext():
                    self._active = True
                    self._live = False
                    self._term_position = None
                    await self._lead()
            except Exception as error:
                self._failures += 1
                delay = self._backoff()
                log.exception("projection %s: runner failed; retrying in %.1fs", self.name, delay)
                self._state, self._last_error = ProjectionState.FAILED, _describe(error)
                await asyncio.sleep(delay)

    async def _lead(self) -> None:
        # Subscribe before the first catch-up: an append committed after the subscription
        # rings the bell, one committed before it is found by the catch-up.
        async with self._bus.subscribe(EVENTS_CHANNEL) as inbox:
            polled = True
            while True:
                try:
                    if polled:
                        self._term_position = None  # a quiet interval: look at the checkpoint again
                    await self._catch_up()
                    if polled:
                        # No notice says what the log holds (at start, after a quiet poll
                        # interval), so ask: the head shows events read_log still hides.
                        self._announced = max(self._announced, await self._store.head_position())
                except Exception as error:
                    self._term_position = None
                    await self._record_failure(error)
                    await asyncio.sleep(self._backoff())
                    continue
                polled = await self._wait(inbox)

    async def _wait(self, inbox: Subscription) -> bool:
        """Wait for news or the poll interval; True when the interval passed without news."""
        timeout = self._poll_interval
        if self._announced > self._position:
            # Appends were announced that read_log does not show yet: on PostgreSQL it hides
            # events until every older transaction on the server has ended, and the one we
            # wait for may send no notice. Look again soon instead of after a whole poll.
            self._hidden_retries += 1
            timeout = min(timeout, HIDDEN_RETRY_MAX, HIDDEN_RETRY_BASE * 2 ** min(self._hidden_retries, 10))
        else:
            self._hidden_retries = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (remaining := deadline - loop.time()) > 0:
            notice = await inbox.get(timeout=remaining)
            if notice is None:
                return True
            if not isinstance(notice, EventsAppended):
                self._term_position = None  # e.g. a rebuild reset the checkpoint
                return False
            self._announced = max(self._announced, notice.position)
            if notice.position > self._position:
                return False
        return True

    async def _checkpoint(self) -> Checkpoint:
        async with self._database.engine.connect() as conn:
            checkpoint = await read_checkpoint(conn, self.name)
        if checkpoint is None:
            async with self._database.write_engine.begin() as conn:
                await ensure_checkpoint(conn, self.name)
                checkpoint = await read_checkpoint(conn, self.name)
            assert checkpoint is not None
        self._persisted = checkpoint.state
        if checkpoint.state is ProjectionState.REBUILDING:
            self._rebuilding = True
        return checkpoint

    async def _apply_batch(self, from_position: int, events: Sequence[RecordedEvent], started: float) -> int | None:
        to_position = events[-1].position
        if len(events) < self._batch_size:
            state = ProjectionState.RUNNING
        else:
            state = ProjectionState.REBUILDING if self._rebuilding else ProjectionState.CATCHING_UP
        read = time.perf_counter()
        # Read what the batch needs outside the write: if another runner (or a rebuild)
        # commits after this read, the checkpoint is no longer at from_position and the
        # compare-and-set below writes nothing.
        async with self._reader.connect() as conn:
            changes = await self._projector.plan(conn, events)
        planned = time.perf_counter()
        if not await commit_batch(self._database, self.name, from_position, to_position, state, changes.upserts):
            return None
        committed = time.perf_counter()
        streams = changes.streams
        self._position, self._persisted, self._last_error = to_position, state, None
        if self._state is ProjectionState.FAILED:
            log.info("projection %s recovered at position %d", self.name, to_position)
        self._state = state
        notice = ProjectionAdvanced(name=self.name, from_position=from_position, position=to_position, streams=streams)
        await self._bus.publish(projection_channel(self.name), notice)
        if self._live and state is ProjectionState.RUNNING:
            self._report_if_slow(events, changes.upserts, (started, read, planned, committed, time.perf_counter()))
        return to_position

    def _report_if_slow(
        self, events: Sequence[RecordedEvent], upserts: Sequence[Upsert], marks: tuple[float, ...]
    ) -> None:
        """Log a live batch that took longer than slow_batch, or left an event waiting that long."""
        started, read, planned, committed, announced = marks
        # recorded_at is the appending transaction's start: the wait includes its commit.
        oldest = min(event.recorded_at for event in events)
        waited = (datetime.now(UTC) - (oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC))).total_seconds()
        took = announced - started
        if took < self._slow_batch and waited < self._slow_batch:
            return
        rows = ", ".join(f"{change.table.name} {len(change.rows)}" for change in upserts) or "none"
        log.warning(
            "projection %s: slow batch, positions %d-%d: %d events, %d streams, rows %s; took %.0f ms"
            " (read %.0f, plan %.0f, commit %.0f, announce %.0f); oldest event appended %.0f ms before it was announced",
            self.name, events[0].position, events[-1].position, len(events),
            len({event.stream_id for event in events}), rows, took * 1000, (read - started) * 1000,
            (planned - read) * 1000, (committed - planned) * 1000, (announced - committed) * 1000, waited * 1000,
            extra={"projection": self.name, "position": events[-1].position, "batch_ms": took * 1000,
                   "waited_ms": waited * 1000},
        )

    async def _record_failure(self, error: Exception) -> None:
        self._failures += 1
        self._state, self._last_error = ProjectionState.FAILED, _describe(error)
        log.error(
            "projection %s failed applying events after position %d (attempt %d)",
            self.name,
            self._position,
            self._failures,
            exc_info=error,
            extra={"projection": self.name, "position": self._position},
        )
        try:
            await self._persist_state(ProjectionState.FAILED, self._last_error)
        except Exception:
            log.warning("projection %s: could not record FAILED", self.name, exc_info=True)

    async def _persist_state(self, state: ProjectionState, last_error: str | None) -> None:
        async with self._database.write_engine.begin() as conn:
            await set_state(conn, self.name, state, last_error)
        self._persisted = state

    def _backoff(self) -> float:
        return float(min(self._retry_max, self._retry_base * 2 ** max(0, self._failures - 1)))


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:2000]

