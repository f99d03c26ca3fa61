"""The notification bus: a doorbell that says "something changed", never the truth.

Two notices travel on it (eventstore.messages): EventsAppended (channel EVENTS_CHANNEL)
after an append commits, and ProjectionAdvanced (channel projection_channel(name)) after a
projector commits a batch. Any message may be lost or arrive twice; a subscriber that may have
missed one receives RESYNC and re-reads the store.
"""

from __future__ import annotations

import logging
from contextlib import AbstractAsyncContextManager
from dataclasses import asdict
from typing import Protocol

from eventstore import tracing
from eventstore.messages import EventsAppended, Notice

log = logging.getLogger(__name__)

EVENTS_CHANNEL = "orderly.events"


def projection_channel(name: str) -> str:
    """The channel on which projection `name` announces its new checkpoint."""
    return f"orderly.projection.{name}"


class Subscription(Protocol):
    """A local subscriber's inbox."""

    async def get(self, timeout: float | None = None) -> Notice | None:
        """The next notice, RESYNC after a possible loss, or None when timeout passes."""
        ...


class NotificationBus(Protocol):
    """Publishes notices and fans them out to this process's subscribers."""

    async def start(self) -> None:
        """Connect and start listening."""
        ...

    async def close(self) -> None:
        """Stop listening and release connections."""
        ...

    async def publish(self, channel: str, notice: Notice) -> None:
        """Send a notice; never raises for a bus outage (it logs and returns)."""
        ...

    def subscribe(self, *channels: str) -> AbstractAsyncContextManager[Subscription]:
        """An inbox for notices on the channels, released when the context exits."""
        ...

    def subscriber_count(self) -> int:
        """How many local inboxes are open (for leak checks and status)."""
        ...

    def is_healthy(self) -> bool:
        """Whether the bus is connected now."""
        ...


async def announce_appended(
    bus: NotificationBus | None, *, stream_id: str, version: int, first_position: int, position: int
) -> None:
    """After an append committed: ring the "events appended" doorbell, never failing the append."""
    if bus is None:
        return
    notice = EventsAppended(
        stream_id=stream_id,
        version=version,
        first_position=first_position,
        position=position,
        traceparent=tracing.traceparent(),
    )
    tracing.saw_append(first_position, position, notice.traceparent)  # this process's runners link to it
    try:
        await bus.publish(EVENTS_CHANNEL, notice)
    except Exception:
        # The append is committed; readers poll, so a lost doorbell only delays them.
        log.warning("could not announce appended events", extra=asdict(notice), exc_info=True)
