"""With tracing on, a projector process listens to every append notice for its trace context.

A runner reads the append notices only while it waits (projections/doorbell.py); while it
catches up on a backlog, the notices of the appends it is applying still sit in its inbox.
This tap has an inbox of its own and hands each notice's context to tracing.saw_append as
soon as it arrives, so a batch span finds the appends it applies, whichever process made
them. It is one more subscriber only when tracing is on; a notice it misses (an overflow, a
lost message) costs a link, nothing else.
"""

from __future__ import annotations

from contextlib import AsyncExitStack

from eventstore import tracing
from eventstore.bus import EVENTS_CHANNEL, NotificationBus, Subscription
from eventstore.messages import EventsAppended
from eventstore.tasks import BackgroundTask


class AppendTraceTap:
    """Remembers the trace context of every append notice this process receives."""

    def __init__(self, bus: NotificationBus) -> None:
        self._bus = bus
        self._subscription = AsyncExitStack()
        self._task: BackgroundTask | None = None

    async def start(self) -> None:
        """Subscribe (before returning: no notice after start is missed) and listen, when tracing is on."""
        if not tracing.enabled() or self._task is not None:
            return
        inbox = await self._subscription.enter_async_context(self._bus.subscribe(EVENTS_CHANNEL))
        self._task = BackgroundTask(lambda: self._listen(inbox), "append-trace-tap")
        self._task.start()

    async def stop(self) -> None:
        """Stop listening and release the subscription."""
        task, self._task = self._task, None
        if task is not None:
            await task.stop()
        await self._subscription.aclose()

    async def _listen(self, inbox: Subscription) -> None:
        while True:
            notice = await inbox.get()
            if isinstance(notice, EventsAppended):
                tracing.saw_append(notice.first_position, notice.position, notice.traceparent)
