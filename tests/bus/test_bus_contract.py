"""One contract for both buses: what a subscriber of the in-process and the Redis bus sees."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from eventstore.bus import NotificationBus
from eventstore.fanout import INBOX_SIZE
from eventstore.local_bus import InProcessBus
from eventstore.messages import RESYNC, EventsAppended, ProjectionAdvanced, Resync
from eventstore.queued_publisher import QueuedPublisher
from eventstore.redis_bus import RedisBus


@pytest.fixture(params=["in_process", "redis"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[NotificationBus]:
    if request.param == "in_process":
        bus: NotificationBus = InProcessBus()
    else:
        bus = RedisBus(request.getfixturevalue("redis_url"), namespace=f"test-{uuid.uuid4().hex}")
    await bus.start()
    try:
        yield bus
    finally:
        await bus.close()


def channel() -> str:
    return f"test.{uuid.uuid4().hex}"


def appended(n: int) -> EventsAppended:
    return EventsAppended(stream_id=f"s-{n}", version=n, first_position=n, position=n)


async def next_real(inbox, timeout: float = 2.0):  # type: ignore[no-untyped-def]
    """The next notice that is not a RESYNC (a fresh Redis connection sends one)."""
    while True:
        notice = await inbox.get(timeout=timeout)
        if not isinstance(notice, Resync):
            return notice


async def test_a_subscriber_receives_notices_of_its_channel_in_order(bus: NotificationBus) -> None:
    mine, other = channel(), channel()
    async with bus.subscribe(mine) as inbox:
        await bus.publish(other, appended(0))
        for n in range(1, 4):
            await bus.publish(mine, appended(n))
        received = [await next_real(inbox) for _ in range(3)]
    assert received == [appended(1), appended(2), appended(3)]


async def test_every_subscriber_of_a_channel_gets_each_notice(bus: NotificationBus) -> None:
    name = channel()
    async with bus.subscribe(name) as first, bus.subscribe(name) as second:
        advanced = ProjectionAdvanced(name="p", from_position=3, position=7, streams={"o-1": 2})
        await bus.publish(name, advanced)
        assert await next_real(first) == advanced
        assert await next_real(second) == advanced


async def test_get_returns_none_after_the_timeout(bus: NotificationBus) -> None:
    async with bus.subscribe(channel()) as inbox:
        assert await next_real(inbox, timeout=0.05) is None


async def test_inboxes_are_released_on_exit_even_after_an_error(bus: NotificationBus) -> None:
    before = bus.subscriber_count()
    with pytest.raises(RuntimeError):
        async with bus.subscribe(channel()):
            assert bus.subscriber_count() == before + 1
            raise RuntimeError("client vanished")
    assert bus.subscriber_count() == before


async def test_a_slow_subscriber_is_told_to_resync_instead_of_blocking(bus: NotificationBus) -> None:
    name = channel()
    async with bus.subscribe(name) as inbox:
        for n in range(INBOX_SIZE + 5):
            await bus.publish(name, appended(n))
        await asyncio.sleep(0.2)
        seen_resync = False
        while (notice := await inbox.get(timeout=0.5)) is not None:
            seen_resync = seen_resync or notice is RESYNC
        assert seen_resync


async def test_redis_namespaces_do_not_hear_each_other(redis_url: str) -> None:
    first, second = RedisBus(redis_url, namespace="ns-a-" + uuid.uuid4().hex), RedisBus(redis_url, namespace="ns-b")
    await first.start()
    await second.start()
    try:
        async with first.subscribe("shared") as inbox_a, second.subscribe("shared") as inbox_b:
            await second.publish("shared", appended(1))
            assert await next_real(inbox_b) == appended(1)
            assert await next_real(inbox_a, timeout=0.2) is None
    finally:
        await first.close()
        await second.close()


async def _subscribers(redis_url: str, channel: str) -> int:
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    try:
        ((_, count),) = await client.pubsub_numsub(channel)
        return int(count)
    finally:
        await client.aclose()


async def test_redis_subscribes_only_the_channels_its_inboxes_listen_to(redis_url: str) -> None:
    namespace = "ns-" + uuid.uuid4().hex
    listening, writer = RedisBus(redis_url, namespace=namespace), RedisBus(redis_url, namespace=namespace)
    await listening.start()
    await writer.start()
    try:
        # An API process without projectors: the projection channel only, never the append notices.
        async with listening.subscribe("projection.p") as inbox:
            assert await _subscribers(redis_url, f"{namespace}:projection.p") == 1
            assert await _subscribers(redis_url, f"{namespace}:orderly.events") == 0
            await writer.publish("orderly.events", appended(1))
            await writer.publish("projection.p", appended(2))
            assert await next_real(inbox) == appended(2)
        # A channel first wanted later is subscribed before subscribe() returns.
        async with listening.subscribe("orderly.events") as inbox:
            await writer.publish("orderly.events", appended(3))
            assert await next_real(inbox) == appended(3)
    finally:
        await listening.close()
        await writer.close()


async def test_a_channel_first_wanted_while_redis_is_down_is_subscribed_when_it_is_back() -> None:
    from tests.support.redis_server import PrivateRedis
    from tests.support.services import skip_or_fail

    if not PrivateRedis.available():
        skip_or_fail("redis-server is not installed")
    redis = PrivateRedis()
    redis.start()
    namespace = "ns-" + uuid.uuid4().hex
    bus, writer = RedisBus(redis.url, namespace=namespace, socket_timeout=0.5), RedisBus(redis.url, namespace=namespace)
    try:
        await bus.start()
        redis.stop()
        while bus.is_healthy():
            await asyncio.sleep(0.05)
        async with bus.subscribe("late") as inbox:  # returns although Redis cannot confirm
            redis.start()
            assert await inbox.get(timeout=10.0) == RESYNC  # reconnected: whatever was published meanwhile is lost
            await writer.start()
            assert writer.is_healthy()
            await writer.publish("late", appended(7))
            assert await next_real(inbox, timeout=5.0) == appended(7)
    finally:
        await bus.close()
        await writer.close()
        redis.stop()


@pytest.mark.parametrize("queued", [False, True])
async def test_a_tap_is_called_with_each_notice_of_its_channels_and_released_on_exit(
    bus: NotificationBus, *, queued: bool
) -> None:
    # The projection tracker's way in (projections/tracker.py); QueuedPublisher hands on its bus's tap.
    tapped = QueuedPublisher(bus) if queued else bus
    mine, other = channel(), channel()
    received: list[object] = []
    arrived = asyncio.Event()

    def receive(notice: object) -> None:
        received.append(notice)
        if len([n for n in received if not isinstance(n, Resync)]) == 3:
            arrived.set()

    before = bus.subscriber_count()
    async with tapped.tap(receive, mine):  # type: ignore[attr-defined]
        assert bus.subscriber_count() == before + 1
        await bus.publish(other, appended(0))
        for n in range(1, 4):
            await bus.publish(mine, appended(n))
        await asyncio.wait_for(arrived.wait(), 5.0)
    assert [n for n in received if not isinstance(n, Resync)] == [appended(1), appended(2), appended(3)]
    assert bus.subscriber_count() == before
