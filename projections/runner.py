"""The projection runner: hold the lease, catch up from the checkpoint in batches, wait for the doorbell.

Each batch is planned from a read of the read model, then committed with the checkpoint
in ONE write (ReadModelStore.commit_batch); the new position is announced only after
COMMIT. The checkpoint write is a compare-and-set on the position the batch was read
from, so of two runners racing on the same projection only one commits a batch and the
other re-reads. The runner reads and writes the generation of tables its checkpoint row
names (projections/generations.py); the compare-and-set matches that generation too, so
after a blue-green switch its next commit fails, it re-reads the checkpoint and rebinds.
When to read again is the doorbell's business (doorbell.py), what the
runner is doing the state recorder's (state_recorder.py). Behind the log, the next batch is
planned while the current one commits, reading the current one's rows from PendingRows
(pending_rows.py); commits and their notices stay one after the other, in order. Live, the same
holds for a short batch when a notice beyond it already waits in the inbox (Doorbell.news):
the next read need not wait for the commit's round trip, then for the doorbell.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass

from domain.ports import RecordedEvent
from eventstore import log_context, tracing
from eventstore.bus import EVENTS_CHANNEL, NotificationBus, projection_channel
from eventstore.messages import ProjectionAdvanced
from eventstore.queued_publisher import QueuedPublisher
from eventstore.tasks import BackgroundTask
from projections.batch_scope import batch_scope
from projections.changes import BatchChanges
from projections.checkpoints import ProjectionState, ensure_checkpoint, read_checkpoint
from projections.collector_pause import collector_paused
from projections.doorbell import Doorbell, Wake
from projections.generations import generation_tables
from projections.metrics import observe_batch, observe_batch_conflict
from projections.parking import DEFAULT_RETRIES, StreamParking, StreamReader
from projections.pending_rows import PendingRows
from projections.projector import EventLog, Projector
from projections.read_ahead import ReadAhead
from projections.read_models import ReadModelStore
from projections.slow_batch import SLOW_BATCH_SECONDS, BatchTimings, report_if_slow
from projections.state_recorder import StateRecorder
from projections.unreadable import refuse_unreadable

log = logging.getLogger(__name__)

# Entered before the runner does anything and held while it runs: the seam for leadership
# (e.g. a PostgreSQL advisory-lock lease). Raising out of it ends the term; the runner
# retries entering it after a backoff.
LeaseFactory = Callable[[], AbstractAsyncContextManager[object]]
# Whether a notice already received announces a position beyond the given one (Doorbell.news).
News = Callable[[int], Awaitable[bool]]


class ProjectionRunner:
    """Keeps one projection caught up with the event log."""

    def __init__(
        self,
        name: str,
        projector: Projector,
        read_models: ReadModelStore,
        store: EventLog,
        bus: NotificationBus,
        *,
        batch_size: int = 500,
        max_batch_size: int | None = None,
        poll_interval: float = 1.0,
        retry_base: float = 0.1,
        retry_max: float = 30.0,
        lease: LeaseFactory | None = None,
        slow_batch: float = SLOW_BATCH_SECONDS,
        streams: StreamReader | None = None,
        park_after: int = DEFAULT_RETRIES,
        create_checkpoint: bool = True,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if max_batch_size is not None and max_batch_size < batch_size:
            raise ValueError("max_batch_size must be at least batch_size")
        self.name = name
        self._projector = projector
        self._read_models = read_models
        self._bound: ReadModelStore | None = None  # bound to the generation the checkpoint names
        self._store = store
        self._bus = bus
        # Notices leave in order without holding up the next batch (eventstore/queued_publisher.py).
        self._announcer = QueuedPublisher(bus, f"projection-notices:{name}")
        self._batch_size = batch_size
        # Catching up, each full batch doubles the next read up to max_batch_size: fewer, larger
        # batches fold more events of one stream into one row write (and one trigram index update),
        # and pay fewer round trips. A short batch (the runner is live) returns to batch_size, so a
        # live batch stays small; a failed batch is retried at the same size, so poison isolation
        # (parking.py) meets the same batch again.
        self._max_batch_size = max_batch_size or batch_size
        self._limit = batch_size
        self._poll_interval = poll_interval
        self._lease = lease
        self._slow_batch = slow_batch
        # A rebuild's shadow runner must not recreate its checkpoint (at generation 1!) once a switch deleted it.
        self._create_checkpoint = create_checkpoint
        self._recorder = StateRecorder(name, read_models, retry_base=retry_base, retry_max=retry_max)
        # Poison events park their stream after park_after retries (parking.py); `streams`
        # (the event store; by default the log, when it can read a stream) is where a
        # requested retry reads a parked stream again.
        if streams is None and isinstance(store, StreamReader):
            streams = store
        # Every projector refuses an event this code cannot decode, so parking takes it (unreadable.py).
        self._plan = refuse_unreadable(projector.plan)
        self._parking = StreamParking(name, self._plan, read_models, streams, self._announcer, retries=park_after)
        self._task = BackgroundTask(self._run, f"projection:{name}")
        self._ahead = ReadAhead(store)
        self._position = 0
        # The checkpoint as this runner last knew it; None: read it again before the next batch.
        self._term_position: int | None = None
        self._live = False  # caught up at least once this term: batch timings mean something

    @property
    def state(self) -> ProjectionState:
        """What the runner is doing now."""
        return self._recorder.state

    @property
    def position(self) -> int:
        """The last position this runner saw committed."""
        return self._position

    @property
    def generation(self) -> int | None:
        """The generation of tables this runner writes (None before it read its checkpoint)."""
        return None if self._bound is None else self._bound.generation

    @property
    def last_error(self) -> str | None:
        """The error of the last failed attempt, until a batch succeeds."""
        return self._recorder.last_error

    @property
    def parked(self) -> dict[str, int]:
        """The streams this runner holds back, with the version each is parked at."""
        return self._parking.held

    @property
    def running(self) -> bool:
        """Whether the runner's task is alive."""
        return self._task.running

    async def start(self) -> None:
        """Start the runner's task (no-op when it is running)."""
        self._task.start()

    async def stop(self) -> None:
        """Cancel the task and wait for it (a batch not yet committed is not written); record STOPPED."""
        await self._task.stop()
        await self._announcer.close()
        await self._recorder.stopped()

    async def catch_up(self) -> int:
        """Apply every batch the log has now, from the stored checkpoint; returns how many events were applied
        (their notices sent)."""
        self._term_position = None
        applied = await self._catch_up()
        await self._announcer.flush()
        return applied

    async def _run(self) -> None:
        log_context.enter(projection=self.name)  # this task's own context: every line it logs names the projection
        while True:
            try:
                async with self._lease() if self._lease is not None else nullcontext():
                    self._recorder.leading = True
                    self._live = False
                    self._term_position = None
                    await self._lead()
            except Exception as error:
                # Out of the lease another process may lead; without a lease, every runner leads.
                self._recorder.leading = self._lease is None
                await asyncio.sleep(await self._recorder.failed(error, self._position))

    async def _lead(self) -> None:
        # Subscribe before the first catch-up: an append committed after the subscription
        # rings the bell, one committed before it is found by the catch-up.
        async with self._bus.subscribe(EVENTS_CHANNEL) as inbox:
            doorbell = Doorbell(inbox, self._poll_interval)
            wake = Wake.QUIET
            while True:
                try:
                    if wake is not Wake.NEWS:
                        self._term_position = None  # quiet, or a reset: look at the checkpoint again
                    await self._catch_up(doorbell.news)
                    if wake is Wake.QUIET:
                        doorbell.saw_head(await self._store.head_position())
                except Exception as error:
                    self._term_position = None
                    await asyncio.sleep(await self._recorder.failed(error, self._position))
                    continue
                wake = await doorbell.wait(self._position)

    async def _catch_up(self, news: News | None = None) -> int:
        # The checkpoint is read once per term (and after a lost compare-and-set): while the
        # runner leads, it alone moves the checkpoint, and a rebuild or a rival's commit
        # makes the next compare-and-set fail, which reads it again.
        reread = self._term_position is None
        if self._term_position is None:
            self._term_position = await self._checkpoint()
        await self._parking.at_boundary(self._term_position, self._recorder.batch_state(full=not self._live), reread=reread)
        position = self._term_position
        try:
            applied = await self._batches(position, news)
        finally:
            self._ahead.discard()
        self._live = True
        await self._recorder.caught_up()
        return applied

    async def _batches(self, position: int, news: News | None = None) -> int:
        # Behind the log, batch N+1 is read and planned while batch N commits (pipelined: the
        # fold works in this process while the database writes N). N+1's plan reads N's rows
        # through the commit's PendingRows (pending_rows.py) and is thrown away unless N commits. Commits
        # stay one after the other, in order, each with its notice.
        applied = 0
        committing: _Commit | None = None
        try:
            while True:
                started = time.perf_counter()
                limit = self._limit
                with collector_paused():  # the batch's objects die by reference counting (collector_pause.py)
                    events = await self._ahead.read_log(after=position, limit=limit)
                    if not events:
                        if committing is not None:
                            previous, committing = committing, None
                            if await self._settle(previous) is None:
                                position = await self._moved()
                                continue
                            applied += previous.planned.count
                        self._limit = self._batch_size
                        break
                    if len(events) == limit:  # behind: the next batch is read meanwhile (read_ahead.py)
                        await self._ahead.start(events[-1].position, min(limit * 2, self._max_batch_size))
                    self._recorder.working()
                    # The commit task starts inside the batch's scope: its log lines and notice carry the batch.
                    with batch_scope(self.name, position, events):
                        planned = await self._plan_batch(position, events, started, beside=committing)
                        if committing is not None:
                            previous, committing = committing, None
                            if await self._settle(previous) is None:  # N+1's plan read rows that never committed
                                planned = None
                                position = await self._moved()
                                continue
                            applied += previous.planned.count
                            if planned is None:  # its plan failed beside the commit before it: plan it again, alone
                                planned = await self._plan_batch(position, events, started, beside=None)
                                assert planned is not None
                        assert planned is not None
                        committing = self._commit(planned)
                        # The catch-up's last batch (unless news of a later append already waits), or one
                        # that parks streams (the next batch is admitted without them, parking.py): nothing
                        # is planned beside its commit.
                        last = len(events) < limit and (news is None or not await news(planned.to_position))
                        if last or planned.isolated:
                            previous, committing = committing, None
                            if await self._settle(previous) is None:
                                position = await self._moved()
                                continue
                            applied += len(events)
                position = self._term_position = planned.to_position
                if len(events) < limit:
                    self._limit = self._batch_size
                    if committing is None:
                        break
                    continue  # news waits: the next read goes out while this batch commits
                self._limit = min(limit * 2, self._max_batch_size)
        finally:
            if committing is not None:  # the plan beside it failed, or the runner stopped: the commit ends with it
                committing.task.cancel()
                await asyncio.gather(committing.task, return_exceptions=True)
        self._position = position
        return applied

    async def _moved(self) -> int:
        position = self._term_position = await self._checkpoint()
        log.info("projection %s: checkpoint moved by another runner to %d", self.name, position)
        # The other runner may have parked streams in the batches it committed.
        await self._parking.at_boundary(position, self._recorder.batch_state(full=not self._live), reread=True)
        return position

    async def _checkpoint(self) -> int:
        async with self._read_models.reader.connect() as conn:
            checkpoint = await read_checkpoint(conn, self.name)
        if checkpoint is None:
            if not self._create_checkpoint:
                raise LookupError(f"projection {self.name} has no checkpoint")
            async with self._read_models.database.write_engine.begin() as conn:
                await ensure_checkpoint(self._read_models, conn, self.name, version=self._projector.version)
                checkpoint = await read_checkpoint(conn, self.name)
            assert checkpoint is not None
        self._recorder.read(checkpoint)
        if self._bound is None or self._bound.generation != checkpoint.generation:
            if self._bound is not None:
                log.info("projection %s: now on generation %d", self.name, checkpoint.generation)
            tables = generation_tables(self._projector, checkpoint.generation)
            self._bound = self._read_models.for_generation(checkpoint.generation, tables)
            self._parking.bind(self._bound)
        return checkpoint.position

    async def _plan_batch(
        self, from_position: int, events: Sequence[RecordedEvent], started: float, *, beside: _Commit | None
    ) -> _Planned | None:
        # Read what the batch needs outside the write: if another runner (or a rebuild)
        # commits after this read, the checkpoint is no longer at from_position and the
        # compare-and-set writes nothing.
        bound = self._bound
        assert bound is not None  # bound by _checkpoint() before the first batch
        read = time.perf_counter()
        admitted = self._parking.admitted(events)  # without the streams parked so far
        isolated = False
        try:
            changes = await self._plan(bound if beside is None else beside.pending, admitted)
        except Exception as error:
            if beside is not None:
                return None  # parking judges a failure only on a plan made alone (after the commit before it)
            changes = await self._parking.isolate(from_position, admitted, error)  # re-raised until it parks
            isolated = True
        state = self._recorder.batch_state(full=len(events) >= self._batch_size)
        return _Planned(
            from_position=from_position,
            to_position=events[-1].position,
            count=len(events),
            # Only a live batch's slow-batch report reads its events; a batch behind the log does not keep
            # its events alive while the next one is planned.
            live_events=events if state is ProjectionState.RUNNING else (),
            changes=changes,
            state=state,
            isolated=isolated,
            started=started,
            read=read,
            planned=time.perf_counter(),
        )

    def _commit(self, planned: _Planned) -> _Commit:
        """Commit the batch in a task of its own; a plan beside it reads its rows from its PendingRows."""
        assert self._bound is not None
        # Its own, not the runner's: two catch-ups of one runner (its task and a catch_up() call) may overlap.
        pending = PendingRows(self._bound)
        pending.hold(planned.changes.upserts)
        return _Commit(planned, pending, asyncio.ensure_future(self._commit_batch(planned)))

    async def _settle(self, committing: _Commit) -> int | None:
        """The commit's new position; None when the checkpoint had moved (nothing written)."""
        return await committing.task

    async def _commit_batch(self, planned: _Planned) -> int | None:
        # This task's own log scope: the runner's moves on to the next batch meanwhile.
        log_context.enter(position=planned.to_position)
        bound = self._bound
        assert bound is not None
        changes, state = planned.changes, planned.state
        to_position = planned.to_position
        if not await bound.commit_batch(self.name, planned.from_position, to_position, state, changes.upserts):
            observe_batch_conflict(self.name)
            return None
        committed = time.perf_counter()
        self._position = to_position
        self._recorder.committed(state, to_position)
        notice = ProjectionAdvanced(
            name=self.name,
            from_position=planned.from_position,
            position=to_position,
            streams=changes.streams,
            traceparent=tracing.traceparent(),
        )
        await self._announcer.publish(projection_channel(self.name), notice)
        observe_batch(self.name, planned.count, time.perf_counter() - planned.started)
        await self._parking.committed()  # holds back the streams the batch parked, and announces them
        if self._live and state is ProjectionState.RUNNING:
            marks = BatchTimings(
                started=planned.started,
                read=planned.read,
                planned=planned.planned,
                committed=committed,
                announced=time.perf_counter(),
            )
            report_if_slow(self.name, planned.live_events, changes.upserts, marks, self._slow_batch)
        return to_position


@dataclass(frozen=True, kw_only=True)
class _Planned:
    """A batch planned and not yet committed."""

    from_position: int
    to_position: int
    count: int  # events read (parked streams' included)
    live_events: Sequence[RecordedEvent]
    changes: BatchChanges
    state: ProjectionState
    isolated: bool  # parking took poison out of it (parking.py)
    started: float
    read: float
    planned: float


@dataclass(frozen=True)
class _Commit:
    """A planned batch, its rows for the plan beside it, and the task committing it."""

    planned: _Planned
    pending: PendingRows
    task: asyncio.Task[int | None]
