"""A token bucket per principal: `rate` requests a second, bursts of up to `burst`.

With ORDERLY_REDIS_URL the buckets live in Redis, shared by every API process: one Lua script
(EVALSHA through redis-py's Script) refills and takes tokens atomically, on Redis's clock, so
processes on different machines agree. A process takes a lease of several tokens per round trip
and spends them locally (orderly/rate_leases.py: the exact bound on what that costs the limit,
ORDERLY_LIMIT_RATE_LEASE=1 for one round trip per request). Without Redis, or while Redis cannot be reached, each
process keeps its own buckets: a Redis outage costs the limit its sharing, never the API its
requests (logged once per outage; Redis is tried again every few seconds).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from orderly.metrics import observe_rate_refusal
from orderly.rate_leases import Grant, LeasedBuckets, lease_size
from schema.principal import Principal

log = logging.getLogger(__name__)

RATE = "rate"
RATE_MESSAGE = "Too many requests; retry later"
REDIS_RETRY_INTERVAL = 5.0  # seconds between attempts while Redis is down
_REDIS_TIMEOUT = 0.5  # seconds: a hung Redis delays a request this long, once per interval
_MAX_LOCAL_KEYS = 100_000

# KEYS[1] the bucket; ARGV rate (tokens/s), burst, most (tokens wanted). Returns {n, "0"} when
# n >= 1 tokens were taken (at most `most`, at most what the bucket holds), {0, seconds until one
# is available} otherwise. Time in ms keeps Lua's %.14g exact.
_TAKE_TOKENS = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local most = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
local granted, wait = math.min(most, math.floor(tokens)), 0
if granted >= 1 then
  tokens = tokens - granted
else
  granted = 0
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {granted, tostring(wait)}
"""


def principal_key(principal: Principal, client: tuple[str, int] | None) -> str:
    """Whose bucket: the authenticated subject, else (auth off) the client's address."""
    if principal.subject is not None:
        return f"sub:{principal.subject}"
    return f"addr:{client[0] if client else 'unknown'}"


@dataclass
class _Bucket:
    tokens: float
    at: float


class LocalBuckets:
    """Token buckets in this process (the fallback, and the only ones without Redis)."""

    def __init__(self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self._clock = rate, burst, clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str) -> float | None:
        """Take a token: None when allowed, else the seconds until one is available."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= _MAX_LOCAL_KEYS:
                self._forget_full(now)
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return None
        return (1 - bucket.tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        # A bucket that has refilled is the same as no bucket: memory stays bounded by the
        # number of principals active within burst/rate seconds.
        refill = self.burst / self.rate
        self._buckets = {key: b for key, b in self._buckets.items() if now - b.at < refill}


class RedisBuckets:
    """Token buckets in Redis, shared by every process using the same namespace."""

    def __init__(self, client: Redis, rate: float, burst: int, namespace: str) -> None:
        self.client = client
        self.rate, self.burst, self.prefix = rate, burst, f"{namespace}:rate:"
        self._script = client.register_script(_TAKE_TOKENS)

    async def take(self, key: str) -> float | None:
        """Take a token: None when allowed, else the seconds until one is available."""
        grant = await self.lease(key, 1)
        return None if grant.tokens else grant.wait

    async def lease(self, key: str, most: int) -> Grant:
        """Take up to `most` tokens at once (none when the bucket is empty: then the wait)."""
        granted, wait = await self._script(keys=[self.prefix + key], args=[self.rate, self.burst, most])
        return Grant(int(granted), float(wait))


class RateLimiter:
    """Leases on the Redis buckets when configured and reachable, this process's buckets otherwise."""

    def __init__(
        self,
        local: LocalBuckets,
        shared: LeasedBuckets | None = None,
        *,
        client: Redis | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.local, self.shared, self._client, self._clock = local, shared, client, clock
        self._shared_down_until: float | None = None

    @classmethod
    def build(cls, rate: float, burst: int, redis_url: str | None, namespace: str, *, lease: int = 1) -> RateLimiter:
        """The limiter for these settings (nothing connects until the first request); `lease`: most tokens per round trip."""
        if not redis_url:
            return cls(LocalBuckets(rate, burst))
        client = Redis.from_url(redis_url, socket_connect_timeout=_REDIS_TIMEOUT, socket_timeout=_REDIS_TIMEOUT)
        shared = LeasedBuckets(RedisBuckets(client, rate, burst, namespace), lease_size(lease, burst))
        return cls(LocalBuckets(rate, burst), shared, client=client)

    def take_held(self, key: str) -> bool:
        """Take a token a lease already holds for key, as take would, without a round trip; False
        when take must decide (no token held, no shared buckets, or Redis was found unreachable)."""
        return self.shared is not None and self._shared_down_until is None and self.shared.take_held(key)

    async def take(self, key: str) -> float | None:
        """Take a token for key: None when allowed, else the seconds to wait (Retry-After)."""
        wait = await self._take(key)
        if wait is not None:
            observe_rate_refusal()
        return wait

    async def _take(self, key: str) -> float | None:
        if self.shared is not None:
            now = self._clock()
            if self._shared_down_until is None or now >= self._shared_down_until:
                try:
                    wait = await self.shared.take(key)
                except (RedisError, OSError) as error:
                    if self._shared_down_until is None:
                        log.warning("rate limit: Redis unreachable (%r); limiting in this process until it is back", error)
                    self._shared_down_until = now + REDIS_RETRY_INTERVAL
                else:
                    if self._shared_down_until is not None:
                        log.warning("rate limit: Redis reachable again; buckets shared again")
                        self._shared_down_until = None
                    return wait
        return self.local.take(key)

    async def close(self) -> None:
        """Close the Redis connection, if any."""
        if self._client is not None:
            await self._client.aclose()
