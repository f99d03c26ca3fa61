"""The projection tracker: one per process, the latest known checkpoint and parked streams of each projection.

It is fed by the projections' notices on the bus and by one database read of all
checkpoints (and one of the parked streams) per poll_interval, however many requests are
waiting. A notice can be lost, so whenever the tracker sees a gap (a notice starting
beyond the last known position, a poll showing more than the notices did, an overflowing
inbox) its listeners get RESYNC and re-read the read model instead of trusting the notices.

A poll that shows a checkpoint beyond the notices is usually only ahead of a notice still
on its way (the batch committed just before the read; its notice follows within
milliseconds). So the tracker gives the notices NOTICE_GRACE seconds to catch up before it
counts them as lost: a RESYNC wakes every listener of the projection at once (hundreds of
re-reads in one burst under steady writes, measured once a second in scenario 5), where the
notice wakes only the listeners of its streams. A notice really lost is therefore made good
by the poll NOTICE_GRACE seconds later than before: it delays, never loses.

Parked streams (projections/parking.py): a wait asks the tracker whether its order is
parked. "No" costs nothing; "yes" is confirmed in the table, since a retry may have
released the stream meanwhile. A parking whose notice was lost reaches the stream's
listeners as a StreamParked from the next poll.

Notices are pushed: when the bus can tap its channels (eventstore/fanout.py's Tap), each
notice is applied in the bus listener's own call and its listeners are woken there, without
first waking the tracker's task to read an inbox (an extra turn of the event loop behind
everything else ready, under load). So a notice may now be applied while a poll awaits its
read. The read then started before the notice came, and may show less than it said: that is
no rebuild (which would RESYNC every listener and put the known position back), so a poll
whose projection a notice advanced meanwhile is not trusted to lower it; and parkings noticed
meanwhile are kept over a table read that may have missed them. A bus without a tap is read
through an inbox by the tracker's task, as before.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager

from eventstore import tracing
from eventstore.bus import NotificationBus, Subscription, projection_channel
from eventstore.fanout import Fanout, Inbox
from eventstore.messages import Notice, ProjectionAdvanced, StreamParked
from eventstore.metrics import observe_resync
from eventstore.tasks import BackgroundTask
from projections.checkpoints import checkpoint_position, read_checkpoints
from projections.metrics import POSITION, observed_wait
from projections.parked_streams import parked_version, read_parked_places
from projections.read_models import ReadModelStore

log = logging.getLogger(__name__)

NOTICE_GRACE = 0.25  # seconds a poll's checkpoint may run ahead of the notices before they count as lost


class ProjectionTracker:
    """Latest known checkpoints, listeners' inboxes and waits for a position."""

    def __init__(
        self, bus: NotificationBus, read_models: ReadModelStore, names: Iterable[str], poll_interval: float = 1.0
    ) -> None:
        self._bus = bus
        self._reader = read_models.reader
        self._names = tuple(names)
        self._poll_interval = poll_interval
        self._known: dict[str, int | None] = dict.fromkeys(self._names)
        self._changed: dict[str, asyncio.Event] = {name: asyncio.Event() for name in self._names}
        self._parked: dict[str, dict[str, int]] = {name: {} for name in self._names}  # stream -> parked version
        # Per projection, listeners by stream id; None: every notice of the projection.
        self._listeners: dict[str, Fanout[str | None]] = {name: Fanout() for name in self._names}
        self._task = BackgroundTask(self._run, "projection-tracker")
        self._poll_soon = False
        self._wake: asyncio.Event | None = None  # set to cut the task's wait short (a pushed notice wants a poll)
        # Per projection, a polled checkpoint ahead of the notices and when it stops being a head start.
        self._ahead: dict[str, tuple[int, float]] = {}
        # Per projection, notices that moved the known position, and parkings noticed while a poll reads.
        self._advances: dict[str, int] = dict.fromkeys(self._names, 0)
        self._noticed_parked: dict[str, dict[str, int]] | None = None
        self.polls = 0  # checkpoint reads so far (one per poll, however many listeners)

    async def start(self) -> None:
        """Subscribe to the projections' channels and start polling."""
        self._task.start()

    async def stop(self) -> None:
        """Stop the task and release the bus subscription."""
        await self._task.stop()

    def position(self, name: str) -> int | None:
        """The latest known checkpoint of the projection (None before the first read)."""
        return self._known[name]

    def listener_count(self) -> int:
        """Open listener inboxes (for leak checks)."""
        return sum(listeners.count() for listeners in self._listeners.values())

    def listened_streams(self) -> int:
        """Keys (stream ids, and None for every notice) with an open listener (for leak checks)."""
        return sum(listeners.keys() for listeners in self._listeners.values())

    def listen(self, name: str, key: str | None = None) -> AbstractAsyncContextManager[Subscription]:
        """An inbox of the projection's notices, with RESYNC whenever some may have been missed.

        With a key (a stream id), only notices whose batch touched that stream are delivered
        (and every RESYNC): a commit wakes the subscriptions it concerns, not all of them.
        """
        self._require(name)
        return self._listeners[name].subscribe(key)

    def watch(self, name: str, key: str, inbox: Inbox) -> None:
        """Register an inbox made by the caller for one stream's notices, until unwatch (listen without a block)."""
        self._require(name)
        self._listeners[name].add(inbox, key)

    def unwatch(self, name: str, key: str, inbox: Inbox) -> None:
        """Unregister an inbox registered by watch."""
        self._listeners[name].remove(inbox, key)

    async def wait_for_position(self, name: str, position: int, timeout: float | None) -> bool:
        """Whether the projection's checkpoint reaches position within timeout seconds."""
        self._require(name)
        if not self.running:
            raise RuntimeError("the projection tracker is not started")
        with observed_wait(POSITION) as outcome:
            outcome.reached = await self._wait_for_position(name, position, timeout)
        return outcome.reached

    async def _wait_for_position(self, name: str, position: int, timeout: float | None) -> bool:
        known = self._known[name]
        if known is not None and known >= position:
            return True
        # Take the wake-up before reading: an advance between the read and the wait sets it.
        changed = self._changed[name]
        async with self._reader.connect() as conn:
            current = await checkpoint_position(conn, name)
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while current < position:
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return False
            try:
                async with asyncio.timeout(remaining):
                    await changed.wait()
            except TimeoutError:
                return (self._known[name] or 0) >= position
            changed = self._changed[name]
            current = self._known[name] or 0
        return True

    async def parked_version(self, name: str, stream_id: str) -> int | None:
        """The version the stream is parked at in the projection, None when it is not (see the module docstring)."""
        self._require(name)
        if stream_id not in self._parked[name]:
            return None
        async with self._reader.connect() as conn:
            version = await parked_version(conn, name, stream_id)
        if version is None:
            self._parked[name].pop(stream_id, None)
        return version

    @property
    def running(self) -> bool:
        """Whether the tracker's task is alive."""
        return self._task.running

    def _require(self, name: str) -> None:
        if name not in self._known:
            raise KeyError(f"unknown projection {name!r}")

    async def _run(self) -> None:
        while True:
            try:
                # Subscribe first, then read: a batch committed in between is seen by one or both.
                channels = map(projection_channel, self._names)
                tap = getattr(self._bus, "tap", None)
                if tap is not None:
                    async with tap(self._receive, *channels):
                        await self._poll_loop(None)
                else:
                    async with self._bus.subscribe(*channels) as inbox:
                        await self._poll_loop(inbox)
            except Exception:
                log.exception("projection tracker failed; restarting in %.1fs", self._poll_interval)
                self._broadcast_resync()
                await asyncio.sleep(self._poll_interval)

    async def _poll_loop(self, inbox: Subscription | None) -> None:
        """Poll every poll_interval (sooner when asked); read the inbox meanwhile, unless notices are pushed."""
        loop = asyncio.get_running_loop()
        next_poll = loop.time()
        while True:
            if self._poll_soon or loop.time() >= next_poll:
                if inbox is not None:
                    # Notices already here first: a poll that ran ahead of them
                    # would look like a loss and make every listener re-read.
                    while (pending := await inbox.get(timeout=0)) is not None:
                        self._on_notice(pending)
                self._poll_soon = False
                next_poll = loop.time() + self._poll_interval
                await self._poll()
            wake_at = min([next_poll, *(deadline for _, deadline in self._ahead.values())])
            timeout = max(0.0, wake_at - loop.time())
            if inbox is None:
                await self._sleep(timeout)
            else:
                notice = await inbox.get(timeout=timeout)
                if notice is not None:
                    self._on_notice(notice)
            if self._ahead:
                self._expire_ahead(loop.time())

    async def _sleep(self, timeout: float) -> None:
        wake = self._wake = asyncio.Event()
        if self._poll_soon:
            return
        try:
            async with asyncio.timeout(timeout):
                await wake.wait()
        except TimeoutError:
            pass

    def _receive(self, notice: Notice) -> None:
        """A notice pushed by the bus (in its listener's call): applied at once."""
        try:
            self._on_notice(notice)
        except Exception:
            log.exception("projection tracker could not apply %r; listeners re-read", notice)
            self._broadcast_resync()
            self._poll_soon = True
        if self._poll_soon and self._wake is not None:
            self._wake.set()

    async def _poll(self) -> None:
        self.polls += 1
        advances = dict(self._advances)
        noticed_parked: dict[str, dict[str, int]] = {name: {} for name in self._names}
        self._noticed_parked = noticed_parked  # pushed notices may come while the reads are awaited
        try:
            async with self._reader.connect() as conn:
                checkpoints = await read_checkpoints(conn, self._names)
                parked = await read_parked_places(conn, self._names)
        except Exception:
            log.warning("projection tracker could not read checkpoints", exc_info=True)
            return
        finally:
            self._noticed_parked = None
        for name in self._names:
            checkpoint = checkpoints.get(name)
            position = 0 if checkpoint is None else checkpoint.position
            known = self._known[name]
            # Read before a notice that came meanwhile showed more: stale, not a rebuild (module docstring).
            stale = self._advances[name] != advances[name] and known is not None and position < known
            if not stale:
                self._observe(name, position)
            self._observe_parked(name, parked[name], noticed_parked[name])

    def _observe_parked(self, name: str, parked: dict[str, tuple[int, int]], noticed: dict[str, int]) -> None:
        polled = {stream: version for stream, (version, _) in parked.items()}
        for stream_id, version in noticed.items():  # noticed during the read, which may have missed them
            if polled.get(stream_id, -1) < version:
                polled[stream_id] = version
        known, self._parked[name] = self._parked[name], polled
        for stream_id, (version, position) in parked.items():
            if known.get(stream_id) != version:  # its notice was lost (or is late): tell the stream's listeners
                self._deliver_parked(StreamParked(name=name, stream_id=stream_id, version=version, position=position))

    def _deliver_parked(self, notice: StreamParked) -> None:
        listeners = self._listeners[notice.name]
        listeners.deliver(None, notice)
        listeners.deliver(notice.stream_id, notice)

    def _observe(self, name: str, position: int) -> None:
        known = self._known[name]
        if known == position:
            self._ahead.pop(name, None)
            return
        if known is not None and position > known:
            # Probably a notice on its way: wait NOTICE_GRACE for it (the module docstring). A later
            # poll raises the position, never the deadline, so lost notices cannot be put off forever.
            _, deadline = self._ahead.get(name, (0, asyncio.get_running_loop().time() + NOTICE_GRACE))
            self._ahead[name] = (position, deadline)
            return
        # Older than the notices said (a rebuild), or the first read: listeners cannot trust what they were told.
        self._ahead.pop(name, None)
        self._set(name, position)
        self._listeners[name].deliver_resync()
        observe_resync("tracker")

    def _expire_ahead(self, now: float) -> None:
        for name, (position, deadline) in list(self._ahead.items()):
            known = self._known[name]
            if known is not None and known >= position:
                del self._ahead[name]  # the notices caught up
            elif now >= deadline:
                del self._ahead[name]
                log.debug("projection %s: poll found %d beyond notices (%s)", name, position, known)
                # Newer than the notices said: some were lost (or are very late).
                self._set(name, position)
                self._listeners[name].deliver_resync()
                observe_resync("tracker")

    def _on_notice(self, notice: Notice) -> None:
        if isinstance(notice, StreamParked):
            if notice.name in self._parked:
                self._parked[notice.name][notice.stream_id] = notice.version
                if self._noticed_parked is not None:
                    self._noticed_parked[notice.name][notice.stream_id] = notice.version
                self._deliver_parked(notice)
            return
        if not isinstance(notice, ProjectionAdvanced):
            # Our own inbox overflowed or someone asked everyone to re-read.
            self._broadcast_resync()
            self._poll_soon = True
            return
        name, position = notice.name, notice.position
        if name not in self._known:
            log.warning("projection tracker ignored a notice of an unknown projection %r", notice)
            return
        tracing.saw_batch(name, notice.from_position, position, notice.traceparent)
        known = self._known[name]
        if known is not None and position <= known:
            return  # a duplicate, or late: a poll already moved past it
        self._set(name, position)
        self._advances[name] += 1
        if known is not None and notice.from_position <= known:
            self._deliver(name, notice)
        else:
            self._listeners[name].deliver_resync()
            observe_resync("tracker")

    def _set(self, name: str, position: int) -> None:
        self._known[name] = position
        changed, self._changed[name] = self._changed[name], asyncio.Event()
        changed.set()

    def _deliver(self, name: str, notice: ProjectionAdvanced) -> None:
        listeners = self._listeners[name]
        listeners.deliver(None, notice)
        listeners.deliver_each(notice.streams, notice)

    def _broadcast_resync(self) -> None:
        for listeners in self._listeners.values():
            listeners.deliver_resync()
        observe_resync("tracker")
