"""Several blue-green rebuilds at once in one process, reading and decoding the log once for all.

Reading and decoding an event costs about a quarter of a fill's CPU, and every shadow fills
from position 0 with the same growing batches (runner.py), so the shadows ask for the same
ranges: SharedEventLog (shared_log.py) makes one query of each and hands its decoded events
to every shadow. A faster fold runs ahead of a slower one; the last KEEP full batches stay
decoded, so the slower one still finds what the faster one read while the gap is small, and
reads for itself beyond that.

Each rebuild is still its own run (its lease, its shadow, its switch); when one fails, the
others are cancelled, and each resumes from its own shadow checkpoint on the next run.

SQLite has one writer at a time, so fills at once only queue for its lock; and cancelling a fill
does not stop a statement its driver thread is running, which keeps the lock for as long as that
statement takes. On SQLite the rebuilds therefore run one after another, still over one read of
the log, and stop at the first failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace

from projections.blue_green import BlueGreenRebuild, RebuildOutcome
from projections.shared_log import SharedEventLog

# Full batches kept decoded for a shadow that lags behind (a 20,000-event batch is some 50 MB).
KEEP = 4


async def rebuild_together(rebuilds: Sequence[BlueGreenRebuild]) -> list[RebuildOutcome]:
    """Run the rebuilds at once over one shared read of the first one's log; their outcomes in order."""
    if not rebuilds:
        return []
    # Kept past a short read: this shared log ends with the rebuilds, and on SQLite the later ones read what the first kept.
    shared = SharedEventLog(rebuilds[0].events, keep=KEEP, keep_when_live=True)
    if not rebuilds[0].read_models.database.is_postgres:
        return [await replace(rebuild, events=shared).run() for rebuild in rebuilds]
    try:
        async with asyncio.TaskGroup() as group:
            runs = [group.create_task(replace(rebuild, events=shared).run()) for rebuild in rebuilds]
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None  # the first failure, as a single rebuild raises it; the others were cancelled
    return [run.result() for run in runs]
