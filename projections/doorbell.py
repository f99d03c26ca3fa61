"""When a caught-up runner reads the log again: the doorbell.

The bus only wakes a runner early; the database is the truth. A runner waits on its
subscription to the append notices and reads again when one of these comes first:

- NEWS: a notice announces a position beyond what the runner has applied;
- RESYNC: someone asked everyone to re-read (a rebuild, an overflowing inbox): the runner
  looks at its checkpoint again, which a reset may have moved back;
- QUIET: the poll interval passed without news (a notice can be lost): the runner looks
  at its checkpoint and asks the log's head what it may have missed.

Hidden events. read_log may not show an announced event yet: on PostgreSQL it hides events
behind a gap until older transactions end (eventstore/postgres_store.py), and the append we
wait for may send no further notice. While the announced position is ahead of the runner's,
the wait is cut short: 5 ms, doubling up to 250 ms, instead of a whole poll interval.

projections/shared_log.py relies on that rule: a runner that joins a read of the log already
under way may miss an event committed just before it asked. Nothing is lost, because the
event's notice (or the head asked after a quiet poll) put the announced position ahead of
what the runner read, so this doorbell rings again within the short retry. Remove the rule
and the shared log could delay such an event by a whole poll interval.
"""

from __future__ import annotations

import asyncio
from enum import Enum

from eventstore.bus import Subscription
from eventstore.messages import EventsAppended

HIDDEN_RETRY_BASE = 0.005
HIDDEN_RETRY_MAX = 0.25


class Wake(Enum):
    """Why the runner reads again."""

    NEWS = "news"
    RESYNC = "resync"
    QUIET = "quiet"


class Doorbell:
    """The append notices of one lease term, and the highest position they (or the head) announced."""

    def __init__(self, inbox: Subscription, poll_interval: float) -> None:
        self._inbox = inbox
        self._poll_interval = poll_interval
        self._announced = 0
        self._hidden_retries = 0
        self._resync = False  # news() took a RESYNC out of the inbox: wait() returns it at once

    def saw_head(self, head: int) -> None:
        """Count the log's head as announced (after a quiet poll, no notice says what the log holds)."""
        self._announced = max(self._announced, head)

    async def news(self, position: int) -> bool:
        """Whether the notices already in the inbox announce a position beyond `position`; never waits.

        False once a RESYNC is among them: the runner goes back to wait(), which returns it.
        """
        while not self._resync and (notice := await self._inbox.get(timeout=0)) is not None:
            if isinstance(notice, EventsAppended):
                self._announced = max(self._announced, notice.position)
            else:
                self._resync = True
        return not self._resync and self._announced > position

    async def wait(self, position: int) -> Wake:
        """Wait for a reason to read again, the runner having applied the log up to position."""
        if self._resync:
            self._resync = False
            return Wake.RESYNC
        timeout = self._poll_interval
        if self._announced > position:
            # Announced but not shown by read_log yet (see the module docstring): look again soon.
            self._hidden_retries += 1
            timeout = min(timeout, HIDDEN_RETRY_MAX, HIDDEN_RETRY_BASE * 2 ** min(self._hidden_retries, 10))
        else:
            self._hidden_retries = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (remaining := deadline - loop.time()) > 0:
            notice = await self._inbox.get(timeout=remaining)
            if notice is None:
                return Wake.QUIET
            if not isinstance(notice, EventsAppended):
                return Wake.RESYNC
            self._announced = max(self._announced, notice.position)
            if notice.position > position:
                return Wake.NEWS
        return Wake.QUIET
