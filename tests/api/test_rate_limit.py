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
        database_url, redis_url=redis_url, bus_namespace=f"t.{uuid.uuid4().hex}",
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


async def test_redis_down_falls_back_to_this_process_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    limiter = RateLimiter.build(rate=1.0, burst=2, redis_url=f"redis://127.0.0.1:{free_port()}/0", namespace="t")
    try:
        with caplog.at_level(logging.WARNING, logger="orderly.rate_limit"):
            results = [await limiter.take("k") for _ in range(4)]
        assert results[:2] == [None, None] and all(r is not None for r in results[2:])
        assert len([r for r in caplog.records if "Redis unreachable" in r.getMessage()]) == 1
    finally:
        await limiter.close()
