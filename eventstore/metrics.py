"""The write side's and the bus's instruments: per-process counters, summed across processes by Prometheus.

Every series here is about this process only (nothing crosses processes but the database),
and none carries an id: label values come from small fixed sets.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

APPEND_CONFLICTS = Counter(
    "orderly_append_conflicts",
    "Appends refused because the stream had moved past the expected version (CONCURRENCY_CONFLICT)",
)
BUS_RESYNCS = Counter(
    "orderly_bus_resyncs",
    "Times this process told its listeners that notices may have been lost and they must re-read",
    ["source"],  # "bus": the Redis listener (re)connected; "tracker": the tracker saw a gap or an overflow
)
INBOX_OVERFLOWS = Counter(
    "orderly_inbox_overflows",
    "Local inboxes that overflowed and dropped their backlog for a RESYNC (a slow reader)",
)
POOL_WAIT = Histogram(
    "orderly_db_pool_wait_seconds",
    "Time a read waited for a pooled database connection (SQLAlchemy's pool)",
    buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0),
)


def observe_append_conflict() -> None:
    """An append met a stream that had moved on."""
    APPEND_CONFLICTS.inc()


def observe_resync(source: str) -> None:
    """Listeners were told to re-read the store; source is "bus" or "tracker"."""
    BUS_RESYNCS.labels(source).inc()


def observe_inbox_overflow() -> None:
    """A local inbox overflowed."""
    INBOX_OVERFLOWS.inc()


def observe_pool_wait(seconds: float) -> None:
    """A read got its pooled connection after this long."""
    POOL_WAIT.observe(seconds)


APPEND_BATCH = Histogram(
    "orderly_append_batch_commands",
    "Commands carried by one group-committed append call (PostgreSQL)",
    buckets=(1, 2, 4, 8, 16, 32, 64),
)


def observe_append_batch(commands: int) -> None:
    """One group-commit call carried this many commands."""
    APPEND_BATCH.observe(commands)
