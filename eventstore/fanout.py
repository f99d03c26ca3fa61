"""Local fan-out: delivers each notice to every inbox of this process that wants its channel."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from eventstore.bus import RESYNC, Notice

INBOX_SIZE = 1000


class Inbox:
    """A bounded queue; when it overflows it drops its backlog and holds RESYNC instead."""

    def __init__(self, size: int = INBOX_SIZE) -> None:
        self._queue: asyncio.Queue[Notice] = asyncio.Queue(maxsize=size)

    def put(self, notice: Notice) -> None:
        """Deliver without blocking the publisher; a slow reader is told to resync."""
        try:
            self._queue.put_nowait(notice)
        except asyncio.QueueFull:
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait(RESYNC)

    async def get(self, timeout: float | None = None) -> Notice | None:
        """The next notice, or None after timeout seconds."""
        if timeout is None:
            return await self._queue.get()
        if timeout <= 0:
            return self._queue.get_nowait() if not self._queue.empty() else None
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation
        # that lands just as an item arrives, and a stopping task would keep running.
        try:
            async with asyncio.timeout(timeout):
                return await self._queue.get()
        except TimeoutError:
            return None


class Fanout:
    """The inboxes of one process, by channel."""

    def __init__(self) -> None:
        self._inboxes: dict[str, set[Inbox]] = defaultdict(set)

    @asynccontextmanager
    async def subscribe(self, *channels: str) -> AsyncIterator[Inbox]:
        """Register an inbox for the channels; always unregistered on exit."""
        inbox = Inbox()
        for channel in channels:
            self._inboxes[channel].add(inbox)
        try:
            yield inbox
        finally:
            for channel in channels:
                members = self._inboxes.get(channel)
                if members is not None:
                    members.discard(inbox)
                    if not members:
                        del self._inboxes[channel]

    def deliver(self, channel: str, notice: Notice) -> None:
        """Hand a notice to every inbox on the channel."""
        for inbox in tuple(self._inboxes.get(channel, ())):
            inbox.put(notice)

    def deliver_resync(self) -> None:
        """Tell every inbox that notices may have been lost."""
        for inbox in {inbox for members in self._inboxes.values() for inbox in members}:
            inbox.put(RESYNC)

    def channels(self) -> set[str]:
        """Channels with at least one inbox."""
        return set(self._inboxes)

    def count(self) -> int:
        """Open inboxes."""
        return len({inbox for members in self._inboxes.values() for inbox in members})
