"""The local fan-out: small inboxes (one per open subscription) and a registry that empties when they close."""

from __future__ import annotations

import asyncio

import pytest

from eventstore.fanout import Fanout, Inbox
from eventstore.messages import RESYNC, ProjectionAdvanced


def advanced(position: int) -> ProjectionAdvanced:
    return ProjectionAdvanced(name="order_views", position=position, from_position=position - 1, streams={})


async def test_an_inbox_hands_notices_over_in_order() -> None:
    inbox = Inbox()
    inbox.put(advanced(1))
    inbox.put(advanced(2))
    assert await inbox.get() == advanced(1)
    assert await inbox.get(timeout=1) == advanced(2)
    assert await inbox.get(timeout=0) is None
    assert await inbox.get(timeout=0.01) is None


async def test_a_waiting_reader_is_woken_by_a_notice() -> None:
    inbox = Inbox()
    reader = asyncio.create_task(inbox.get(timeout=10))
    await asyncio.sleep(0.01)
    assert not reader.done()
    inbox.put(advanced(3))
    assert await reader == advanced(3)


async def test_an_overflowing_inbox_holds_only_resync() -> None:
    inbox = Inbox(size=2)
    for position in (1, 2, 3):
        inbox.put(advanced(position))
    assert await inbox.get(timeout=0) is RESYNC
    assert await inbox.get(timeout=0) is None
    inbox.put(advanced(4))
    assert await inbox.get(timeout=0) == advanced(4)


async def test_a_cancelled_reader_leaves_the_inbox_usable() -> None:
    inbox = Inbox()
    reader = asyncio.create_task(inbox.get())
    await asyncio.sleep(0.01)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    inbox.put(advanced(5))
    assert await inbox.get(timeout=1) == advanced(5)


async def test_an_inbox_has_one_reader_at_a_time() -> None:
    inbox = Inbox()
    first = asyncio.create_task(inbox.get())
    await asyncio.sleep(0.01)
    with pytest.raises(RuntimeError):
        await inbox.get(timeout=1)
    inbox.put(advanced(6))
    assert await first == advanced(6)


async def test_many_inboxes_under_keys_get_their_notices_and_leave_an_empty_registry() -> None:
    fanout: Fanout[str] = Fanout()
    async with fanout.subscribe("a") as first, fanout.subscribe("a", "b") as second, fanout.subscribe("b") as third:
        assert (fanout.count(), fanout.keys()) == (3, 2)
        fanout.deliver("a", advanced(1))
        fanout.deliver_each(["b"], advanced(2))
        assert [await first.get(timeout=0), await first.get(timeout=0)] == [advanced(1), None]
        assert [await second.get(timeout=0), await second.get(timeout=0)] == [advanced(1), advanced(2)]
        assert [await third.get(timeout=0), await third.get(timeout=0)] == [advanced(2), None]
        fanout.deliver_resync()
        assert [await inbox.get(timeout=0) for inbox in (first, second, third)] == [RESYNC, RESYNC, RESYNC]
    assert (fanout.count(), fanout.keys()) == (0, 0)


async def test_an_inbox_is_unregistered_when_its_reader_fails() -> None:
    fanout: Fanout[str] = Fanout()
    with pytest.raises(ValueError):
        async with fanout.subscribe("a", "b"):
            raise ValueError("the subscription ended with an error")
    assert (fanout.count(), fanout.keys()) == (0, 0)
    fanout.deliver("a", advanced(1))  # nobody listens: nothing to do


async def test_thousands_of_subscriptions_on_one_key_open_and_close() -> None:
    fanout: Fanout[str | None] = Fanout()
    stop = asyncio.Event()
    received: list[object] = []

    async def subscriber(key: str | None) -> None:
        async with fanout.subscribe(key) as inbox:
            ready.release()
            received.append(await inbox.get(timeout=10))
            await stop.wait()

    ready = asyncio.Semaphore(0)
    tasks = [asyncio.create_task(subscriber(None if number % 2 else f"s{number}")) for number in range(2000)]
    for _ in tasks:
        await ready.acquire()
    assert (fanout.count(), fanout.keys()) == (2000, 1001)
    fanout.deliver(None, advanced(1))
    fanout.deliver_each([f"s{number}" for number in range(0, 2000, 2)], advanced(2))
    while len(received) < 2000:
        await asyncio.sleep(0.01)
    assert received.count(advanced(1)) == 1000 and received.count(advanced(2)) == 1000
    stop.set()
    await asyncio.gather(*tasks)
    assert (fanout.count(), fanout.keys()) == (0, 0)
