"""Local fan-out: delivers each notice to every inbox of this process registered under its key.

The buses key inboxes by channel; the projection tracker keys them by stream id.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Hashable, Iterable
from contextlib import asynccontextmanager
from typing import Generic, TypeVar

from eventstore.messages import RESYNC, Notice
from eventstore.metrics import observe_inbox_overflow

INBOX_SIZE = 1000

K = TypeVar("K", bound=Hashable)


class Inbox:
    """A bounded queue; when it overflows it drops its backlog and holds RESYNC instead."""

    def __init__(self, size: int = INBOX_SIZE) -> None:
        self._queue: asyncio.Queue[Notice] = asyncio.Queue(maxsize=size)

    def put(self, notice: Notice) -> None:
        """Deliver without blocking the publisher; a slow reader is told to resync."""
        try:
            self._queue.put_nowait(notice)
        except asyncio.QueueFull:
            observe_inbox_overflow()
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


class Fanout(Generic[K]):
    """The inboxes of one process, by key."""

    def __init__(self) -> None:
        self._inboxes: dict[K, set[Inbox]] = defaultdict(set)

    @asynccontextmanager
    async def subscribe(self, *keys: K) -> AsyncIterator[Inbox]:
        """Register an inbox for the keys; always unregistered on exit."""
        inbox = Inbox()
        for key in keys:
            self._inboxes[key].add(inbox)
        try:
            yield inbox
        finally:
            for key in keys:
                members = self._inboxes.get(key)
                if members is not None:
                    members.discard(inbox)
                    if not members:
                        del self._inboxes[key]

    def deliver(self, key: K, notice: Notice) -> None:
        """Hand a notice to every inbox under the key."""
        members = self._inboxes.get(key)
        if members:
            for inbox in tuple(members):
                inbox.put(notice)

    def deliver_each(self, keys: Iterable[K], notice: Notice) -> None:
        """Hand a notice to the inboxes under each of the keys (twice to one under two of them)."""
        if not self._inboxes:
            return
        for key in keys:
            self.deliver(key, notice)

    def deliver_resync(self) -> None:
        """Tell every inbox that notices may have been lost."""
        for inbox in {inbox for members in self._inboxes.values() for inbox in members}:
            inbox.put(RESYNC)

    def count(self) -> int:
        """Open inboxes."""
        return len({inbox for members in self._inboxes.values() for inbox in members})
