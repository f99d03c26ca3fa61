"""How big and how long: the full plan (the figures the issue asks for) and the quick one
(every scenario for a second or two, so the test suite keeps the bench from rotting)."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Plan:
    """Sizes, durations and repetitions of one bench run."""

    quick: bool
    runs: int  # repetitions of every measured figure (median, min, max)
    seconds: float  # one HTTP load run
    warmup: float  # an unrecorded load run before the first measured one, per server
    connections: int  # concurrent HTTP clients (wrk connections)
    writers: int  # scenario 1: concurrent appenders
    append_seconds: float
    orders: int  # loaded orders (scenarios 3, 4, 6)
    events_per_order: int  # so the log holds orders * events_per_order events
    commands: int  # scenario 5: createOrder commands per run
    command_rate: float  # scenario 5: commands per second through one API
    fast_command_rate: float  # scenario 5 again, through two APIs (commands scaled to last as long)
    subscriptions: int  # scenario 7
    subscriptions_per_socket: int
    update_round: int  # scenario 7: orders updated by one projection batch

    @property
    def events(self) -> int:
        """Events the loader writes."""
        return self.orders * self.events_per_order

    def describe(self) -> str:
        """One line for the report."""
        runs = f"{self.runs} run" + ("s" if self.runs != 1 else "")
        return (
            f"{'quick' if self.quick else 'full'} mode: {runs} per figure"
            + (" (quick: a single run, min = max)" if self.runs == 1 else "")
            + f", {self.seconds:g} s per load run, {self.connections} connections, {self.orders:,} orders / "
            f"{self.events:,} events, {self.subscriptions:,} subscriptions"
        )


FULL = Plan(
    quick=False,
    runs=3,
    seconds=5,
    warmup=2,
    connections=16,
    writers=16,
    append_seconds=5,
    orders=100_000,
    events_per_order=10,
    commands=1000,
    command_rate=200,
    fast_command_rate=1000,
    subscriptions=50_000,
    subscriptions_per_socket=100,
    update_round=100,
)

QUICK = replace(
    FULL,
    quick=True,
    runs=1,
    seconds=1,
    warmup=1,
    append_seconds=1,
    orders=2_000,
    commands=100,
    subscriptions=100,
    subscriptions_per_socket=50,
    update_round=10,
)
