"""How many subscriptions this process has opened and closed (what the API process's heap freezer watches)."""

from __future__ import annotations

from types import TracebackType


class SubscriptionTally:
    """Subscriptions opened and closed so far; plain counters, read without locks on the event loop.

    `with tally:` counts one subscription for the block's lifetime, however it ends; the tally
    is its own context manager, so an open subscription holds no object of its own for it.
    """

    __slots__ = ("closed", "opened")

    def __init__(self) -> None:
        self.opened = 0
        self.closed = 0

    @property
    def open(self) -> int:
        """Subscriptions running now."""
        return self.opened - self.closed

    def __enter__(self) -> None:
        self.opened += 1

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.closed += 1

    def close_one(self) -> None:
        """One subscription counted by entering the tally has ended (when its end is not a block's)."""
        self.closed += 1


# One per process, like the metrics' counters: every schema of the process counts here.
SUBSCRIPTIONS = SubscriptionTally()
