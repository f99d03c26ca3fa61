"""Leases on the shared rate buckets: one Redis round trip per `size` requests of a principal, not per request.

A process takes up to `size` tokens of a principal's Redis bucket in one EVALSHA and spends
them locally; it asks Redis again only when its lease is empty. Concurrent requests of one
principal in a process share one round trip (the others wait for its answer). When Redis
has no token, the answer says how long until one refills; until then the process refuses
that principal locally with the remaining time as Retry-After (exact: only time adds tokens).

The trade-off, precisely. Every token spent was first taken from the shared bucket, so the
limit is never exceeded by more than what the processes hold at the start of a window:
over any interval T, a principal gets at most `burst + rate x T + processes x size`
requests (exact sharing gives `burst + rate x T`). The other side: tokens a process holds
are not available to the others, so a principal whose requests move to another process may
be refused while at most `(processes - 1) x size` of its tokens sit unspent elsewhere (they
are spent when its requests come back there; a lease never expires and is dropped only
when `MAX_KEYS` principals are cached). `size` is the ORDERLY_LIMIT_RATE_LEASE setting,
capped at a tenth of the burst; 1 gives today's exact sharing, one round trip per request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

MAX_KEYS = 100_000


def lease_size(most: int, burst: int) -> int:
    """Tokens per lease: the setting, at most a tenth of the burst (the overshoot stays a fraction of it), at least 1."""
    return max(1, min(most, burst // 10))


@dataclass(frozen=True)
class Grant:
    """What the shared bucket gave: `tokens` (0 when empty) and, when 0, the seconds until one refills."""

    tokens: int
    wait: float


class SharedBuckets(Protocol):
    """The shared buckets (orderly.rate_limit.RedisBuckets)."""

    async def lease(self, key: str, most: int) -> Grant:
        """Take up to `most` tokens from key's bucket at once."""
        ...


@dataclass
class _Held:
    tokens: int = 0
    refused_until: float = 0.0  # the shared bucket is empty until then (this process's clock)
    asking: asyncio.Task[Grant] | None = None


class LeasedBuckets:
    """This process's leases on the shared buckets (see the module docstring for the bound)."""

    def __init__(self, shared: SharedBuckets, size: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        if size < 1:
            raise ValueError("a lease holds at least one token")
        self.shared, self.size, self._clock = shared, size, clock
        self._held: dict[str, _Held] = {}

    async def take(self, key: str) -> float | None:
        """Take a token: None when allowed, else the seconds until one is available; Redis errors propagate."""
        while True:
            held = self._held.get(key)
            if held is None:
                if len(self._held) >= MAX_KEYS:
                    self._forget_idle()
                held = self._held[key] = _Held()
            if held.tokens > 0:
                held.tokens -= 1
                return None
            now = self._clock()
            if now < held.refused_until:
                return held.refused_until - now
            if held.asking is None:
                held.asking = asyncio.ensure_future(self._ask(key, held))
                held.asking.add_done_callback(_retrieve)
            # Shielded: a request cancelled while waiting must not cancel the others' round trip.
            # Its answer is in `held` when it returns; loop to spend from it (or to ask again when
            # more requests waited than the grant covered).
            await asyncio.shield(held.asking)

    def take_held(self, key: str) -> bool:
        """Take a token this process already holds for key (what take does first), without waiting; False when it holds none."""
        held = self._held.get(key)
        if held is None or held.tokens <= 0:
            return False
        held.tokens -= 1
        return True

    async def _ask(self, key: str, held: _Held) -> Grant:
        try:
            grant = await self.shared.lease(key, self.size)
        finally:
            held.asking = None
        held.tokens += grant.tokens
        if grant.tokens == 0:
            held.refused_until = self._clock() + grant.wait
        return grant

    def _forget_idle(self) -> None:
        # Memory stays bounded: idle principals go first; when all are busy, unspent tokens are
        # forfeited (the limit only gets stricter).
        now = self._clock()
        self._held = {k: h for k, h in self._held.items() if h.asking is not None or h.tokens or now < h.refused_until}
        if len(self._held) >= MAX_KEYS:
            self._held = {k: h for k, h in self._held.items() if h.asking is not None}

    def held_tokens(self) -> int:
        """Tokens this process holds over all principals (for tests and the bound)."""
        return sum(h.tokens for h in self._held.values())


def _retrieve(asking: asyncio.Task[Grant]) -> None:
    # Every waiter may have been cancelled: read the error so asyncio does not log it as lost.
    if not asking.cancelled():
        asking.exception()
