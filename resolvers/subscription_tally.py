"""How many subscriptions this process has opened and closed (what the API process's heap freezer watches)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class SubscriptionTally:
    """Subscriptions opened and closed so far; plain counters, read without locks on the event loop."""

    __slots__ = ("closed", "opened")

    def __init__(self) -> None:
        self.opened = 0
        self.closed = 0

    @property
    def open(self) -> int:
        """Subscriptions running now."""
        return self.opened - self.closed

    @contextmanager
    def running(self) -> Iterator[None]:
        """Count one subscription for the block's lifetime, however it ends."""
        self.opened += 1
        try:
            yield
        finally:
            self.closed += 1


# One per process, like the metrics' counters: every schema of the process counts here.
SUBSCRIPTIONS = SubscriptionTally()
