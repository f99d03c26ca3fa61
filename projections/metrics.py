"""The read side's instruments: projection batches and read-your-writes waits (per process).

Labels are projection names (a fixed registry), wait kinds and outcomes: never an order id.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from prometheus_client import Counter, Histogram

BATCH_EVENTS = Histogram(
    "orderly_projection_batch_events",
    "Events per committed projection batch",
    ["projection"],
    buckets=(1, 5, 10, 50, 100, 500, 1000, 5000, 10000),
)
BATCH_SECONDS = Histogram(
    "orderly_projection_batch_seconds",
    "Time from reading a projection batch to announcing its commit",
    ["projection"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
)
BATCH_CONFLICTS = Counter(
    "orderly_projection_batch_conflicts",
    "Batches not committed because another runner (or a rebuild) moved the checkpoint first",
    ["projection"],
)
WAIT_SECONDS = Histogram(
    "orderly_consistency_wait_seconds",
    "Read-your-writes waits (minVersion, minPosition, confirmations) by kind and outcome",
    ["kind", "outcome"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

ORDER_VERSION = "order_version"
POSITION = "position"
REACHED = "reached"
TIMED_OUT = "timed_out"
CANCELLED = "cancelled"  # the client went away (or the server stopped) first
FAILED = "failed"  # the wait raised (the database could not be read)


def observe_batch(projection: str, events: int, seconds: float) -> None:
    """A batch of this many events was committed and announced in this many seconds."""
    BATCH_EVENTS.labels(projection).observe(events)
    BATCH_SECONDS.labels(projection).observe(seconds)


def observe_batch_conflict(projection: str) -> None:
    """The batch's compare-and-set on the checkpoint found it moved."""
    BATCH_CONFLICTS.labels(projection).inc()


@dataclass
class WaitOutcome:
    """Set `reached` before the block ends; an exception out of it counts as cancelled."""

    reached: bool = False


@contextmanager
def observed_wait(kind: str) -> Iterator[WaitOutcome]:
    """Time a read-your-writes wait and count it by outcome."""
    outcome = WaitOutcome()
    started = time.perf_counter()
    label = CANCELLED
    try:
        yield outcome
        label = REACHED if outcome.reached else TIMED_OUT
    except (asyncio.CancelledError, GeneratorExit):
        raise
    except Exception:
        label = FAILED
        raise
    finally:
        WAIT_SECONDS.labels(kind, label).observe(time.perf_counter() - started)
