"""Local fan-out: delivers each notice to every inbox of this process registered under its key.

The buses key inboxes by channel; the projection tracker keys them by stream id.

An API process may hold tens of thousands of inboxes (one per open subscription), so an
inbox is one small object: no asyncio.Queue (three deques, an Event and their futures),
a deque only while notices wait, and a future only while its reader waits. Each key's
inboxes sit in a dict used as an ordered set (one inbox under most keys).

A Tap is an inbox whose owner is called with each notice as it is delivered, in the
deliverer's call: no queue, and no task of the owner's woken to read it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Hashable, Iterable
from contextlib import asynccontextmanager
from typing import Generic, TypeVar

from eventstore.messages import RESYNC, Notice
from eventstore.metrics import observe_inbox_overflow

INBOX_SIZE = 1000

K = TypeVar("K", bound=Hashable)


class Inbox:
    """A bounded queue of notices for one reader; when it overflows it drops its backlog and holds RESYNC instead."""

    __slots__ = ("_notices", "_size", "_waiter")

    def __init__(self, size: int = INBOX_SIZE) -> None:
        self._size = size
        self._notices: deque[Notice] | None = None
        self._waiter: asyncio.Future[None] | None = None

    def put(self, notice: Notice) -> None:
        """Deliver without blocking the publisher; a slow reader is told to resync."""
        notices = self._notices
        if notices is None:
            notices = self._notices = deque()
        if len(notices) >= self._size:
            observe_inbox_overflow()
            notices.clear()
            notices.append(RESYNC)
        else:
            notices.append(notice)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self, timeout: float | None = None) -> Notice | None:
        """The next notice, or None after timeout seconds."""
        if not self._notices:
            if timeout is not None and timeout <= 0:
                return None
            if self._waiter is not None:
                raise RuntimeError("an inbox has one reader at a time")
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                if timeout is None:
                    await waiter
                else:
                    # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation
                    # that lands just as a notice arrives, and a stopping task would keep running.
                    async with asyncio.timeout(timeout):
                        await waiter
            except TimeoutError:
                if not self._notices:  # a notice that came with the timeout is still read
                    return None
            finally:
                self._waiter = None
        notices = self._notices
        assert notices, "a woken inbox holds a notice"
        notice = notices.popleft()
        if not notices:
            self._notices = None  # an idle inbox keeps no deque (one per open subscription)
        return notice


class Tap(Inbox):
    """An inbox that hands each notice to `receive` at once; nobody reads it with get."""

    __slots__ = ("_receive",)

    def __init__(self, receive: Callable[[Notice], None]) -> None:
        super().__init__()
        self._receive = receive

    def put(self, notice: Notice) -> None:
        """Call the owner with the notice (it must not raise: the deliverer goes on with the next inbox)."""
        self._receive(notice)


class Fanout(Generic[K]):
    """The inboxes of one process, by key."""

    def __init__(self) -> None:
        # Per key, its inboxes as the keys of a dict: an insertion-ordered set, O(1) removal.
        self._inboxes: dict[K, dict[Inbox, None]] = {}
        self._open = 0

    @asynccontextmanager
    async def subscribe(self, *keys: K) -> AsyncIterator[Inbox]:
        """Register an inbox for the keys; always unregistered on exit."""
        inbox = Inbox()
        self.add(inbox, *keys)
        try:
            yield inbox
        finally:
            self.remove(inbox, *keys)

    @asynccontextmanager
    async def tap(self, receive: Callable[[Notice], None], *keys: K) -> AsyncIterator[None]:
        """Call `receive` with every notice under the keys as it is delivered; always unregistered on exit."""
        tap = Tap(receive)
        self.add(tap, *keys)
        try:
            yield
        finally:
            self.remove(tap, *keys)

    def add(self, inbox: Inbox, *keys: K) -> None:
        """Register an inbox the caller made (and will remove) for the keys."""
        for key in keys:
            members = self._inboxes.get(key)
            if members is None:
                members = self._inboxes[key] = {}
            members[inbox] = None
        self._open += 1

    def remove(self, inbox: Inbox, *keys: K) -> None:
        """Unregister an inbox added for the keys."""
        self._open -= 1
        for key in keys:
            members = self._inboxes.get(key)
            if members is not None:
                members.pop(inbox, None)
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
        return self._open

    def keys(self) -> int:
        """Keys with at least one inbox (for leak checks: none once every inbox is closed)."""
        return len(self._inboxes)
