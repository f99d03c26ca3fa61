"""The slow-batch report: until there are metrics, the log line by which an operator sees a stall.

A live batch (the runner was caught up) slower than SLOW_BATCH_SECONDS, or whose oldest
event waited longer than that from its append to the "projection advanced" notice, is
logged with what it held and where its time went.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from domain.ports import RecordedEvent
from projections.changes import Upsert

log = logging.getLogger(__name__)

SLOW_BATCH_SECONDS = 0.1


@dataclass(frozen=True, kw_only=True)
class BatchTimings:
    """time.perf_counter() marks of one batch: started reading, read, planned, committed, announced."""

    started: float
    read: float
    planned: float
    committed: float
    announced: float


def report_if_slow(
    name: str, events: Sequence[RecordedEvent], upserts: Sequence[Upsert], marks: BatchTimings, slow_batch: float
) -> None:
    """Log the batch if it took longer than slow_batch, or left an event waiting that long."""
    # recorded_at is the appending transaction's start: the wait includes its commit.
    oldest = min(event.recorded_at for event in events)
    waited = (datetime.now(UTC) - (oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC))).total_seconds()
    took = marks.announced - marks.started
    if took < slow_batch and waited < slow_batch:
        return
    rows = ", ".join(f"{change.table.name} {len(change.rows)}" for change in upserts) or "none"
    log.warning(
        "projection %s: slow batch, positions %d-%d: %d events, %d streams, rows %s; took %.0f ms"
        " (read %.0f, plan %.0f, commit %.0f, announce %.0f); oldest event appended %.0f ms before it was announced",
        name,
        events[0].position,
        events[-1].position,
        len(events),
        len({event.stream_id for event in events}),
        rows,
        took * 1000,
        (marks.read - marks.started) * 1000,
        (marks.planned - marks.read) * 1000,
        (marks.committed - marks.planned) * 1000,
        (marks.announced - marks.committed) * 1000,
        waited * 1000,
        extra={"projection": name, "position": events[-1].position, "batch_ms": took * 1000, "waited_ms": waited * 1000},
    )
