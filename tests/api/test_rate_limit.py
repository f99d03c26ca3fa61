"""The rate limit: a token bucket per principal (per client address with auth off), in-process or
shared by every API process through Redis; 429 with Retry-After and LIMIT_EXCEEDED over HTTP."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import httpx
import pytest

from orderly.auth.settings import AuthSettings
from orderly.auth.tokens import issue_token
from orderly.limit_settings import TransportLimits
from orderly.rate_leases import Grant, LeasedBuckets, lease_size
from orderly.rate_limit import LocalBuckets, RateLimiter, RedisBuckets
from tests.support.redis_server import free_port
from tests.support.server import RunningServer, running_server, server_settings

QUERY = {"query": "{ __typename }"}
SECRET = "s" * 40


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_burst_then_refills_at_its_rate() -> None:
    clock = Clock()
    buckets = LocalBuckets(rate=2.0, burst=3, clock=clock)
    assert [buckets.take("a") for _ in range(3)] == [None, None, None]
    assert buckets.take("a") == pytest.approx(0.5)
    assert buckets.take("b") is None  # another principal, another bucket
    clock.now += 0.5
    assert buckets.take("a") is None
    assert buckets.take("a") == pytest.approx(0.5)
    clock.now += 60
    assert [buckets.take("a") for _ in range(4)][-1] is not None  # refilled to the burst, not beyond


def assert_rate_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert int(response.headers["retry-after"]) >= 1
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "LIMIT_EXCEEDED" and error["extensions"]["limit"] == "rate"


async def burst(server: RunningServer, count: int, headers: dict[str, str] | None = None) -> list[httpx.Response]:
    return [await server.http.post(server.url, json=QUERY, headers=headers) for _ in range(count)]


async def test_a_burst_over_the_limit_gets_429_with_retry_after(server_factory: Any) -> None:
    async with server_factory(transport_limits=TransportLimits(rate=0.5, rate_burst=5)) as api:
        loop = asyncio.get_running_loop()
        started = loop.time()
        responses = await burst(api, 20)
        assert loop.time() - started < 10
        assert [r.status_code for r in responses[:5]] == [200] * 5
        for response in responses[5:]:
            assert_rate_limited(response)
        # Health checks are not GraphQL requests: never limited.
        assert (await api.http.get(f"{api.base_url}/healthz")).json() == {"status": "ok"}
        await asyncio.sleep(2.2)  # one token back
        assert (await api.http.post(api.url, json=QUERY)).json() == {"data": {"__typename": "Query"}}


async def test_with_auth_each_subject_has_its_own_bucket(database_url: str) -> None:
    settings = server_settings(
        database_url, auth=AuthSettings(jwt_secret=SECRET), transport_limits=TransportLimits(rate=0.1, rate_burst=3)
    )

    def bearer(subject: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(SECRET, subject=subject, roles=['staff'], ttl=600)}"}

    async with running_server(settings) as api:
        alice = await burst(api, 4, bearer("alice"))
        assert [r.status_code for r in alice[:3]] == [200] * 3
        assert_rate_limited(alice[3])
        assert [r.status_code for r in await burst(api, 3, bearer("bob"))] == [200] * 3
        # A second token for alice draws from the same bucket.
        assert_rate_limited((await burst(api, 1, bearer("alice")))[0])


async def test_two_api_processes_share_one_bucket_through_redis(database_url: str, redis_url: str) -> None:
    settings = server_settings(
        database_url,
        redis_url=redis_url,
        bus_namespace=f"t.{uuid.uuid4().hex}",
        transport_limits=TransportLimits(rate=0.1, rate_burst=6),
    )
    async with running_server(settings) as first, running_server(settings.with_changes(run_projectors=False)) as second:
        statuses = [r.status_code for r in await burst(first, 3)] + [r.status_code for r in await burst(second, 3)]
        assert statuses == [200] * 6
        assert_rate_limited((await burst(second, 1))[0])
        assert_rate_limited((await burst(first, 1))[0])


async def test_the_redis_script_takes_tokens_atomically(redis_url: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    try:
        buckets = RedisBuckets(client, rate=0.01, burst=50, namespace=f"t.{uuid.uuid4().hex}")
        results = await asyncio.gather(*(buckets.take("k") for _ in range(80)))
        assert sum(result is None for result in results) == 50
        assert all(result > 1 for result in results if result is not None)
    finally:
        await client.aclose()


@pytest.mark.parametrize(("burst", "lease"), [(2, 1), (20, 5)])
async def test_redis_down_falls_back_to_this_process_and_logs_once(
    caplog: pytest.LogCaptureFixture, burst: int, lease: int
) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    limiter = RateLimiter.build(rate=1.0, burst=burst, redis_url=url, namespace="t", lease=lease)
    try:
        with caplog.at_level(logging.WARNING, logger="orderly.rate_limit"):
            results = [await limiter.take("k") for _ in range(burst + 2)]
        assert results[:burst] == [None] * burst and all(r is not None for r in results[burst:])
        assert len([r for r in caplog.records if "Redis unreachable" in r.getMessage()]) == 1
    finally:
        await limiter.close()


# Leases: a process takes several tokens per Redis round trip (orderly/rate_leases.py).


class CountingBuckets:
    """A shared bucket that never refills, counting the round trips made to it."""

    def __init__(self, tokens: int, wait: float = 7.5) -> None:
        self.tokens, self.wait = tokens, wait
        self.calls: list[tuple[str, int]] = []
        self.failing: Exception | None = None

    async def lease(self, key: str, most: int) -> Grant:
        self.calls.append((key, most))
        await asyncio.sleep(0)  # a round trip: other requests run meanwhile
        if self.failing is not None:
            raise self.failing
        granted = min(most, self.tokens)
        self.tokens -= granted
        return Grant(granted, 0.0 if granted else self.wait)


def test_a_lease_is_the_setting_capped_at_a_tenth_of_the_burst() -> None:
    assert lease_size(50, 1000) == 50
    assert lease_size(50, 200) == 20
    assert lease_size(50, 5) == 1  # small bursts: one token per round trip, as exact as before
    assert lease_size(1, 1_000_000) == 1


async def test_a_process_asks_the_shared_bucket_once_per_lease() -> None:
    shared = CountingBuckets(tokens=1000)
    buckets = LeasedBuckets(shared, size=10)
    assert [await buckets.take("a") for _ in range(25)] == [None] * 25
    assert shared.calls == [("a", 10)] * 3
    assert buckets.held_tokens() == 5
    assert await buckets.take("b") is None  # another principal, its own lease
    assert shared.calls[-1] == ("b", 10)


async def test_concurrent_requests_share_one_round_trip() -> None:
    shared = CountingBuckets(tokens=1000)
    buckets = LeasedBuckets(shared, size=10)
    assert await asyncio.gather(*(buckets.take("a") for _ in range(10))) == [None] * 10
    assert len(shared.calls) == 1
    # More waiting than one lease covers: those left over ask again.
    assert await asyncio.gather(*(buckets.take("a") for _ in range(15))) == [None] * 15
    assert len(shared.calls) == 3


async def test_an_empty_bucket_refuses_with_its_wait_and_is_not_asked_again_until_then() -> None:
    clock = Clock()
    shared = CountingBuckets(tokens=3, wait=7.5)
    buckets = LeasedBuckets(shared, size=10, clock=clock)
    assert [await buckets.take("a") for _ in range(3)] == [None] * 3
    assert await buckets.take("a") == pytest.approx(7.5)
    calls = len(shared.calls)
    clock.now += 5.0
    assert await buckets.take("a") == pytest.approx(2.5)  # the same Retry-After Redis would give
    assert len(shared.calls) == calls
    clock.now += 2.5
    shared.tokens = 1
    assert await buckets.take("a") is None
    assert len(shared.calls) == calls + 1


async def test_a_failing_round_trip_fails_every_request_waiting_for_it() -> None:
    shared = CountingBuckets(tokens=100)
    shared.failing = ConnectionError("redis down")
    buckets = LeasedBuckets(shared, size=10)
    results = await asyncio.gather(*(buckets.take("a") for _ in range(3)), return_exceptions=True)
    assert all(isinstance(result, ConnectionError) for result in results)
    shared.failing = None
    assert await buckets.take("a") is None


async def test_taking_a_held_token_spends_the_lease_as_take_does_and_never_more() -> None:
    shared = CountingBuckets(tokens=12)
    buckets = LeasedBuckets(shared, size=10, clock=Clock())
    assert not buckets.take_held("a")  # nothing held yet: take asks
    assert await buckets.take("a") is None
    taken = [buckets.take_held("a") for _ in range(12)]
    assert taken == [True] * 9 + [False] * 3 and buckets.held_tokens() == 0
    assert not buckets.take_held("b")
    assert [await buckets.take("a") for _ in range(3)] == [None, None, pytest.approx(7.5)]
    assert len(shared.calls) == 3  # the second lease held the last 2 tokens; the third found none


async def test_the_limiter_takes_held_tokens_only_while_redis_is_reachable() -> None:
    shared = LeasedBuckets(CountingBuckets(tokens=100), size=10)
    limiter = RateLimiter(LocalBuckets(1.0, 1), shared)
    assert not limiter.take_held("a")
    assert await limiter.take("a") is None
    assert limiter.take_held("a") and shared.held_tokens() == 8
    limiter._shared_down_until = 0.0  # Redis found unreachable: take decides (and retries Redis)
    assert not limiter.take_held("a") and shared.held_tokens() == 8
    assert not RateLimiter(LocalBuckets(1.0, 1)).take_held("a")  # no Redis: this process's buckets


async def test_two_processes_leasing_from_redis_stay_within_the_stated_bound(redis_url: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    namespace, burst, size = f"t.{uuid.uuid4().hex}", 100, 10
    try:
        redis = RedisBuckets(client, rate=0.0001, burst=burst, namespace=namespace)
        calls = 0
        lease = redis.lease

        async def counted(key: str, most: int) -> Grant:
            nonlocal calls
            calls += 1
            return await lease(key, most)

        redis.lease = counted  # type: ignore[method-assign]
        processes = [LeasedBuckets(redis, size), LeasedBuckets(redis, size)]
        results = [await processes[i % 2].take("k") for i in range(300)]
        allowed = sum(result is None for result in results)
        assert burst - 2 * size <= allowed <= burst + 2 * size
        assert all(result > 1 for result in results if result is not None)
        assert calls <= burst // size + 2  # one per lease, and one refusal per process (then refused locally)
    finally:
        await client.aclose()


async def test_two_api_processes_with_leases_keep_the_limit_and_answer_429(database_url: str, redis_url: str) -> None:
    capacity, lease = 40, 4
    settings = server_settings(
        database_url,
        redis_url=redis_url,
        bus_namespace=f"t.{uuid.uuid4().hex}",
        transport_limits=TransportLimits(rate=0.001, rate_burst=capacity, rate_lease=lease),
    )
    async with running_server(settings) as first, running_server(settings.with_changes(run_projectors=False)) as second:
        responses = await burst(first, 30) + await burst(second, 30) + await burst(first, 10)
        allowed = [r for r in responses if r.status_code == 200]
        assert capacity - 2 * lease <= len(allowed) <= capacity + 2 * lease
        for response in responses:
            if response.status_code != 200:
                assert_rate_limited(response)
        assert responses[-1].status_code == 429
