"""The queued publisher: publish returns at once, notices leave in order, flush and close wait for them."""

from __future__ import annotations

import asyncio
import logging
import random

import pytest

from eventstore import queued_publisher
from eventstore.local_bus import InProcessBus
from eventstore.messages import RESYNC, Notice, ProjectionAdvanced
from eventstore.queued_publisher import QueuedPublisher

CHANNEL = "orderly.projection.test"


def advanced(position: int) -> ProjectionAdvanced:
    return ProjectionAdvanced(name="test", from_position=position - 1, position=position, streams={}, traceparent=None)


class SlowBus(InProcessBus):
    """An in-process bus whose publish waits for a gate (a Redis round trip that takes its time)."""

    def __init__(self, *, jitter: float = 0.0, failing: set[int] | None = None) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.gate.set()
        self.jitter = jitter
        self.failing = failing or set()
        self.sent: list[Notice] = []

    async def publish(self, channel: str, notice: Notice) -> None:
        await self.gate.wait()
        if self.jitter:
            await asyncio.sleep(random.uniform(0, self.jitter))
        if isinstance(notice, ProjectionAdvanced) and notice.position in self.failing:
            raise RuntimeError("the bus broke")
        self.sent.append(notice)
        await super().publish(channel, notice)


async def test_publish_returns_before_the_bus_has_sent_and_flush_waits_for_it() -> None:
    bus = SlowBus()
    bus.gate.clear()
    publisher = QueuedPublisher(bus)
    async with publisher.subscribe(CHANNEL) as inbox:
        async with asyncio.timeout(1):
            await publisher.publish(CHANNEL, advanced(1))  # the bus is stuck, yet this returns
        await asyncio.sleep(0.01)
        assert bus.sent == []
        assert await inbox.get(timeout=0) is None

        flushed = asyncio.create_task(publisher.flush())
        await asyncio.sleep(0.01)
        assert not flushed.done()
        bus.gate.set()
        async with asyncio.timeout(1):
            await flushed

        assert bus.sent == [advanced(1)]
        assert await inbox.get(timeout=0) == advanced(1)
    await publisher.close()


async def test_notices_leave_in_the_order_they_were_published() -> None:
    bus = SlowBus(jitter=0.002)
    publisher = QueuedPublisher(bus)
    async with publisher.subscribe(CHANNEL) as inbox:
        for position in range(1, 41):
            await publisher.publish(CHANNEL, advanced(position))
            if position % 7 == 0:
                await asyncio.sleep(0.003)  # the sending task may have emptied the queue and ended
        await publisher.flush()

        received = []
        while (notice := await inbox.get(timeout=0)) is not None:
            received.append(notice)
    assert received == [advanced(position) for position in range(1, 41)]
    await publisher.close()


async def test_a_notice_the_bus_fails_to_send_does_not_stop_the_ones_behind_it(caplog: pytest.LogCaptureFixture) -> None:
    bus = SlowBus(failing={2})
    publisher = QueuedPublisher(bus)
    with caplog.at_level(logging.WARNING, logger="eventstore.queued_publisher"):
        for position in (1, 2, 3):
            await publisher.publish(CHANNEL, advanced(position))
        await publisher.flush()

    assert bus.sent == [advanced(1), advanced(3)]
    assert "could not publish" in caplog.text
    await publisher.close()


async def test_close_sends_what_is_queued_then_gives_up_on_a_stuck_bus(monkeypatch: pytest.MonkeyPatch) -> None:
    bus = SlowBus()
    publisher = QueuedPublisher(bus)
    await publisher.publish(CHANNEL, advanced(1))
    await publisher.publish(CHANNEL, RESYNC)
    await publisher.close()
    assert bus.sent == [advanced(1), RESYNC]

    monkeypatch.setattr(queued_publisher, "CLOSE_TIMEOUT", 0.05)
    bus.gate.clear()
    await publisher.publish(CHANNEL, advanced(2))
    async with asyncio.timeout(1):
        await publisher.close()
    await publisher.flush()  # nothing is left waiting
    bus.gate.set()
    await asyncio.sleep(0.01)
    assert bus.sent == [advanced(1), RESYNC]


async def test_subscriptions_and_health_are_the_wrapped_bus() -> None:
    bus = InProcessBus()
    publisher = QueuedPublisher(bus)
    async with publisher.subscribe(CHANNEL):
        assert publisher.subscriber_count() == bus.subscriber_count() == 1
    assert publisher.is_healthy()
    await publisher.close()
