"""The in-process bus: the embedded default, with the same interface as the Redis bus."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from eventstore.bus import Subscription
from eventstore.fanout import Fanout
from eventstore.messages import Notice


class InProcessBus:
    """Delivers notices to subscribers of this process only."""

    def __init__(self) -> None:
        self._fanout: Fanout[str] = Fanout()

    async def start(self) -> None:
        """Nothing to connect."""

    async def close(self) -> None:
        """Nothing to release."""

    async def publish(self, channel: str, notice: Notice) -> None:
        """Deliver at once to local inboxes."""
        self._fanout.deliver(channel, notice)

    def subscribe(self, *channels: str) -> AbstractAsyncContextManager[Subscription]:
        """An inbox for the channels."""
        return self._fanout.subscribe(*channels)

    def tap(self, receive: Callable[[Notice], None], *channels: str) -> AbstractAsyncContextManager[None]:
        """`receive` called with each notice as it is published (eventstore/fanout.py's Tap)."""
        return self._fanout.tap(receive, *channels)

    def subscriber_count(self) -> int:
        """Open inboxes."""
        return self._fanout.count()

    def is_healthy(self) -> bool:
        """Always connected."""
        return True
