"""One process's projections read the log once: concurrent reads of the same range share one
query, and the last few full batches stay decoded for a runner a step behind.

Every runner of a process reads the same ranges: they wake on the same notice and start
from the same checkpoint after a catch-up from zero. Reading and decoding the log is a
large share of a projector's work, so doing it once per process rather than once per
projection is the cheapest speed-up catch-up has.

Only full batches are kept: a short batch is whatever the log showed at that moment, and
serving it again later could hide events that became visible since (a runner would keep
re-reading the same short answer). A runner that joins a read already under way may miss an
event committed just before it asked; nothing is lost, because its runner knows the
announced position is ahead of what it read and reads again shortly: this module relies on
the doorbell's hidden-event retry (projections/doorbell.py, where the rule is stated).

And full batches are kept only while the process catches up: a short read says a runner has
reached the log's end, so the kept batches are dropped then. Kept on, the last two full
batches of a catch-up (up to 2 x 50,000 decoded events, some 600,000 objects) lived as long
as the process: the cyclic collector walked them all in its next generation-1 collection
(400-500 ms of stopped event loop, measured), during which no notice was read and every live
batch waited (scenario 5 at 200 commands/s: 50-130 notifications over 100 ms in the first
run after a catch-up). The price: a runner a step behind one that went live reads its next
full batch itself. A shared log that ends with its readers (rebuild_together.py, whose SQLite
shadows fill one after another, the later from what the first kept) passes keep_when_live.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence

from domain.ports import RecordedEvent
from projections.projector import EventLog

Range = tuple[int, int]


class SharedEventLog:
    """An EventLog in front of another, sharing reads between the runners of one process."""

    def __init__(self, log: EventLog, *, keep: int = 2, keep_when_live: bool = False) -> None:
        self._log = log
        self._keep = keep
        self._keep_when_live = keep_when_live
        self._full: OrderedDict[Range, Sequence[RecordedEvent]] = OrderedDict()
        self._reading: dict[Range, asyncio.Future[Sequence[RecordedEvent]]] = {}

    async def read_log(self, after: int, limit: int) -> Sequence[RecordedEvent]:
        """Events with position > after, in position order, only those safe to tail."""
        key = (after, limit)
        kept = self._full.get(key)
        if kept is not None:
            self._full.move_to_end(key)
            return kept
        reading = self._reading.get(key)
        if reading is None:
            reading = self._reading[key] = asyncio.ensure_future(self._log.read_log(after, limit))
            reading.add_done_callback(lambda done: self._finished(key, done))
        # A cancelled reader must not cancel the read the others wait for.
        return await asyncio.shield(reading)

    async def head_position(self) -> int:
        """The highest committed position (0 when empty)."""
        return await self._log.head_position()

    def _finished(self, key: Range, done: asyncio.Future[Sequence[RecordedEvent]]) -> None:
        self._reading.pop(key, None)
        if done.cancelled() or done.exception() is not None:
            return  # every waiter got (or stopped waiting for) the error; nothing to keep
        events = done.result()
        if len(events) < key[1]:
            if not self._keep_when_live:
                self._full.clear()  # a runner is live: nobody needs a catch-up's batches any more
            return
        self._full[key] = events
        while len(self._full) > self._keep:
            self._full.popitem(last=False)

    @property
    def kept(self) -> int:
        """Decoded events held for runners a step behind."""
        return sum(len(events) for events in self._full.values())
