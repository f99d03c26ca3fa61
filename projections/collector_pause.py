"""Keep CPython's cyclic garbage collector out of a projection batch.

A catch-up batch of 20,000 events makes some 200,000 tracked objects (records, recorded events,
domain events, line items, rows) that all live until the batch is written, then are freed by
reference counting: none of them is in a cycle. While they live, the collector walks them in
its young generations again and again, promotes them all to the oldest one, and that growth
starts full collections of the whole heap: about a third of a rebuild's CPU time, measured
(200,000 events: 4.9 s of CPU with the collector on, 3.2 s with it off).

So the runner holds `collector_paused()` around each batch (read, plan, commit). Several runners
of one process share the pause (a count of holders): the collector is off while any batch is in
flight and back on when the last one ends. The trade-off: cyclic garbage made meanwhile (by any
task of the process) waits for the pause to end. Runners that keep overlapping (two projections
catching up side by side) could keep it paused for the whole catch-up, so a holder that leaves
after MAX_PAUSE collects the young generation (what was made since the pause began) and starts
the pause clock again. A collector someone else disabled is left disabled.

That young collection walks every live object the batches in flight hold (with two runners catching
up in batches of 50,000 events, 100 ms or more of CPU each), so once a second it cost 3.0-3.1 s of a
1M-event catch-up's ~28 s of CPU (23-24 collections). The wait before the next one is therefore the
longer of MAX_PAUSE and COLLECT_SHARE_INVERSE times the last one's duration: the collector spends at
most about 1/COLLECT_SHARE_INVERSE of an overlap (the same catch-up: 7 collections, 1.4 s), and
cyclic garbage waits correspondingly longer (a 130 ms collection puts the next 6.5 s later; the
batches themselves were never cyclic).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from time import monotonic

MAX_PAUSE = 1.0  # seconds the collector stays off before a holder collects the young generation (at least)
COLLECT_SHARE_INVERSE = 50  # ... and at least this many times as long as the last such collection took

_holders = 0
_paused_at: float | None = None  # when this module turned the collector off; None: it did not
_pause = MAX_PAUSE  # how long this pause lasts before the next young collection


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic collector off while the block runs (shared between nested and concurrent holders)."""
    global _holders, _paused_at, _pause
    if _holders == 0 and gc.isenabled():
        gc.disable()
        _paused_at = monotonic()
        _pause = MAX_PAUSE
    _holders += 1
    try:
        yield
    finally:
        _holders -= 1
        if _paused_at is not None:
            if _holders == 0:
                _paused_at = None
                gc.enable()
            elif monotonic() - _paused_at > _pause:
                started = monotonic()
                gc.collect(0)
                _paused_at = monotonic()
                _pause = max(MAX_PAUSE, COLLECT_SHARE_INVERSE * (_paused_at - started))


def paused() -> bool:
    """Whether a holder keeps the collector off now."""
    return _paused_at is not None
