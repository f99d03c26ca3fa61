"""The projection tracker: one per process, the latest known checkpoint of each projection.

It is fed by the projections' notices on the bus and by one database read of all
checkpoints per poll_interval, however many requests are waiting. A notice can be lost,
so whenever the tracker sees a gap (a notice starting beyond the last known position, a
poll showing more than the notices did, an overflowing inbox) its listeners get RESYNC and
re-read the read model instead of trusting the notices.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from eventstore.bus import RESYNC, Notice, NotificationBus, Subscription, projection_channel
from eventstore.database import Database
from eventstore.fanout import Inbox
from projections.bulk import single_statement_reader
from projections.checkpoints import checkpoint_position, read_checkpoints
from projections.tasks import cancel_and_wait

log = logging.getLogger(__name__)


class ProjectionTracker:
    """Latest known checkpoints, listeners' inboxes and waits for a position."""

    def __init__(
        self, bus: NotificationBus, database: Database, names: Iterable[str], poll_interval: float = 1.0
    ) -> None:
        self._bus = bus
        self._database = database
        self._reader = single_statement_reader(database)
        self._names = tuple(names)
        self._poll_interval = poll_interval
        self._known: dict[str, int | None] = dict.fromkeys(self._names)
        self._changed: dict[str, asyncio.Event] = {name: asyncio.Event() for name in self._names}
        self._listeners: dict[str, set[Inbox]] = defaultdict(set)
        self._keyed: dict[str, dict[str, set[Inbox]]] = defaultdict(lambda: defaultdict(set))
        self._task: asyncio.Task[None] | None = None
        self._poll_soon = False
        self.polls = 0  # checkpoint reads so far (one per poll, however many listeners)

    async def start(self) -> None:
        """Subscribe to the projections' channels and start polling."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="projection-tracker")

    async def stop(self) -> None:
        """Stop the task and release the bus subscription."""
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait(task)

    def position(self, name: str) -> int | None:
        """The latest known checkpoint of the projection (None before the first read)."""
        return self._known[name]

    def listener_count(self) -> int:
        """Open listener inboxes (for leak checks)."""
        keyed = sum(len(inboxes) for by_key in self._keyed.values() for inboxes in by_key.values())
        return keyed + sum(len(inboxes) for inboxes in self._listeners.values())

    @asynccontextmanager
    async def listen(self, name: str, key: str | None = None) -> AsyncIterator[Subscription]:
        """An inbox of the projection's notices, with RESYNC whenever some may have been missed.

        With a key (a stream id), only notices whose batch touched that stream are delivered
        (and every RESYNC): a commit wakes the subscriptions it concerns, not all of them.
        """
        self._require(name)
        inbox = Inbox()
        members = self._listeners[name] if key is None else self._keyed[name][key]
        members.add(inbox)
        try:
            yield inbox
        finally:
            members.discard(inbox)
            if not members:
                if key is None:
                    self._listeners.pop(name, None)
                else:
                    by_key = self._keyed.get(name, {})
                    by_key.pop(key, None)
                    if not by_key:
                        self._keyed.pop(name, None)

    async def wait_for_position(self, name: str, position: int, timeout: float | None) -> bool:
        """Whether the projection's checkpoint reaches position within timeout seconds."""
        self._require(name)
        if not self.running:
            raise RuntimeError("the projection tracker is not started")
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

    @property
    def running(self) -> bool:
        """Whether the tracker's task is alive."""
        return self._task is not None and not self._task.done()

    def _require(self, name: str) -> None:
        if name not in self._known:
            raise KeyError(f"unknown projection {name!r}")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                # Subscribe first, then read: a batch committed in between is seen by one or both.
                async with self._bus.subscribe(*map(projection_channel, self._names)) as inbox:
                    next_poll = loop.time()
                    while True:
                        if self._poll_soon or loop.time() >= next_poll:
                            # Notices already here first: a poll that ran ahead of them
                            # would look like a loss and make every listener re-read.
                            while (pending := await inbox.get(timeout=0)) is not None:
                                self._on_notice(pending)
                            self._poll_soon = False
                            next_poll = loop.time() + self._poll_interval
                            await self._poll()
                        notice = await inbox.get(timeout=max(0.0, next_poll - loop.time()))
                        if notice is not None:
                            self._on_notice(notice)
            except Exception:
                log.exception("projection tracker failed; restarting in %.1fs", self._poll_interval)
                self._broadcast_resync()
                await asyncio.sleep(self._poll_interval)

    async def _poll(self) -> None:
        self.polls += 1
        try:
            async with self._database.engine.connect() as conn:
                checkpoints = await read_checkpoints(conn, self._names)
        except Exception:
            log.warning("projection tracker could not read checkpoints", exc_info=True)
            return
        for name in self._names:
            checkpoint = checkpoints.get(name)
            self._observe(name, 0 if checkpoint is None else checkpoint.position)

    def _observe(self, name: str, position: int) -> None:
        known = self._known[name]
        if known == position:
            return
        if known is not None and position > known:
            log.debug("projection %s: poll found %d beyond notices (%d)", name, position, known)
        # Newer than the notices said (some were lost or are late), or older (a rebuild):
        # either way listeners cannot trust what they were told.
        self._set(name, position)
        self._deliver(name, RESYNC)

    def _on_notice(self, notice: Notice) -> None:
        if notice.get("resync"):
            # Our own inbox overflowed or someone asked everyone to re-read.
            self._broadcast_resync()
            self._poll_soon = True
            return
        name = notice.get("name")
        from_position, position = notice.get("from_position"), notice.get("position")
        if name not in self._known or not isinstance(position, int) or not isinstance(from_position, int):
            log.warning("projection tracker ignored a malformed notice %r", notice)
            return
        known = self._known[name]
        if known is not None and position <= known:
            return  # a duplicate, or late: a poll already moved past it
        self._set(name, position)
        self._deliver(name, notice if known is not None and from_position <= known else RESYNC)

    def _set(self, name: str, position: int) -> None:
        self._known[name] = position
        changed, self._changed[name] = self._changed[name], asyncio.Event()
        changed.set()

    def _deliver(self, name: str, notice: Notice) -> None:
        for inbox in tuple(self._listeners.get(name, ())):
            inbox.put(notice)
        by_key = self._keyed.get(name)
        if not by_key:
            return
        if notice.get("resync"):
            targets = [inbox for inboxes in by_key.values() for inbox in inboxes]
        else:
            streams = notice.get("streams") or {}
            targets = [inbox for key in streams if key in by_key for inbox in by_key[key]]
        for inbox in targets:
            inbox.put(notice)

    def _broadcast_resync(self) -> None:
        for name in set(self._listeners) | set(self._keyed):
            self._deliver(name, RESYNC)
