"""The Redis bus sends notices published during a round trip together, in order, none lost or doubled."""

from __future__ import annotations

import asyncio
import uuid

from eventstore.bus import Subscription
from eventstore.messages import EventsAppended, Notice, Resync
from eventstore.redis_bus import RedisBus


def appended(n: int) -> EventsAppended:
    """A notice numbered n."""
    return EventsAppended(stream_id=f"s-{n}", version=n, first_position=n, position=n)


async def real_notices(inbox: Subscription, count: int) -> list[Notice]:
    """The next `count` notices that are not RESYNC (a fresh connection sends one)."""
    received: list[Notice] = []
    while len(received) < count:
        notice = await inbox.get(timeout=5.0)
        assert notice is not None, f"only {len(received)} of {count} notices arrived"
        if not isinstance(notice, Resync):
            received.append(notice)
    return received


async def test_concurrent_publishes_arrive_all_once_in_submission_order(redis_url: str) -> None:
    bus = RedisBus(redis_url, namespace=f"test-{uuid.uuid4().hex}")
    await bus.start()
    channel = f"test.{uuid.uuid4().hex}"
    batches: list[int] = []
    send = bus._publish_batch

    async def counting(messages: list[tuple[str, bytes]]) -> list[None]:
        batches.append(len(messages))
        return await send(messages)

    bus._publish_batch = counting  # type: ignore[method-assign]
    bus._outbox._flush = counting
    try:
        async with bus.subscribe(channel) as inbox:
            await asyncio.gather(*(bus.publish(channel, appended(n)) for n in range(200)))

            received = await real_notices(inbox, 200)
            assert await inbox.get(timeout=0.2) is None, "a notice arrived twice"

        assert received == [appended(n) for n in range(200)]
        assert sum(batches) == 200 and max(batches) > 1, f"the publishes should have shared pipelines: {batches}"
    finally:
        await bus.close()
