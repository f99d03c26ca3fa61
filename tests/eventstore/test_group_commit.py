"""Group commit's queueing on its own, with a fake flush: who travels together, who gets which answer."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from eventstore.group_commit import GroupCommit


class Refused(Exception):
    """A per-request error the fake flush answers for odd numbers."""


class FakeDatabase:
    """A flush that records its batches; while `gated`, each call waits inside until its gate opens."""

    def __init__(self, *, gated: bool = False) -> None:
        self.gated = gated
        self.batches: list[list[int]] = []
        self.gates: list[asyncio.Event] = []
        self.failing: set[int] = set()
        self.cancelled_calls = 0

    async def flush(self, requests: list[int]) -> Sequence[int | BaseException]:
        self.batches.append(list(requests))
        gate = asyncio.Event()
        self.gates.append(gate)
        if not self.gated:
            gate.set()
        try:
            await gate.wait()
        except asyncio.CancelledError:
            self.cancelled_calls += 1
            raise
        if self.failing & set(requests):
            raise ConnectionResetError("the server went away")
        return [Refused(str(request)) if request % 2 else request * 10 for request in requests]

    async def call_started(self, count: int) -> None:
        """Wait until `count` calls have begun."""
        while len(self.gates) < count:
            await asyncio.sleep(0)


async def test_a_lone_request_goes_at_once_alone() -> None:
    database = FakeDatabase()
    group = GroupCommit(database.flush)

    assert await group.submit(4) == 40
    assert await group.submit(6) == 60

    assert database.batches == [[4], [6]]


async def test_requests_that_queue_during_a_call_travel_together_and_get_their_own_answers() -> None:
    database = FakeDatabase(gated=True)
    group = GroupCommit(database.flush)
    first = asyncio.create_task(group.submit(2))
    await database.call_started(1)
    queued = [asyncio.create_task(group.submit(number)) for number in range(3, 9)]
    await asyncio.sleep(0)

    database.gates[0].set()
    await database.call_started(2)
    database.gates[1].set()
    answers = await asyncio.gather(first, *queued, return_exceptions=True)

    assert database.batches == [[2], [3, 4, 5, 6, 7, 8]]
    assert answers[0] == 20
    for number, answer in zip(range(3, 9), answers[1:], strict=True):
        if number % 2:
            assert isinstance(answer, Refused) and str(answer) == str(number)
        else:
            assert answer == number * 10


async def test_a_batch_is_at_most_max_batch() -> None:
    database = FakeDatabase()
    group = GroupCommit(database.flush, max_batch=3)
    database.gated = True
    first = asyncio.create_task(group.submit(0))
    await database.call_started(1)
    queued = [asyncio.create_task(group.submit(number * 2)) for number in range(1, 8)]
    await asyncio.sleep(0)

    database.gated = False
    database.gates[0].set()
    await asyncio.gather(first, *queued)

    assert database.batches == [[0], [2, 4, 6], [8, 10, 12], [14]]


async def test_a_failed_call_fails_exactly_its_batch() -> None:
    database = FakeDatabase(gated=True)
    group = GroupCommit(database.flush)
    first = asyncio.create_task(group.submit(2))
    await database.call_started(1)
    doomed = [asyncio.create_task(group.submit(number)) for number in (4, 6)]
    await asyncio.sleep(0)
    database.failing = {6}

    database.gates[0].set()
    await database.call_started(2)
    later = asyncio.create_task(group.submit(8))
    await asyncio.sleep(0)
    database.gates[1].set()
    await database.call_started(3)
    database.gates[2].set()
    outcomes = await asyncio.gather(*doomed, return_exceptions=True)

    assert await first == 20
    assert database.batches == [[2], [4, 6], [8]]
    assert all(isinstance(outcome, ConnectionResetError) for outcome in outcomes)
    assert await later == 80, "the next batch goes through"


async def test_a_caller_that_gives_up_while_queued_is_withdrawn() -> None:
    database = FakeDatabase(gated=True)
    group = GroupCommit(database.flush)
    first = asyncio.create_task(group.submit(2))
    await database.call_started(1)
    kept = asyncio.create_task(group.submit(4))
    withdrawn = asyncio.create_task(group.submit(6))
    await asyncio.sleep(0)
    withdrawn.cancel()
    await asyncio.sleep(0)

    database.gated = False
    database.gates[0].set()

    assert await first == 20 and await kept == 40
    assert withdrawn.cancelled()
    assert database.batches == [[2], [4]]


async def test_the_call_is_cancelled_only_when_every_caller_of_its_batch_gave_up() -> None:
    database = FakeDatabase(gated=True)
    group = GroupCommit(database.flush)
    lone = asyncio.create_task(group.submit(2))
    await database.call_started(1)

    lone.cancel()
    await asyncio.sleep(0)
    await asyncio.sleep(0)

    assert database.cancelled_calls == 1, "a lone caller that gives up cancels its call, as before group commit"
    first = asyncio.create_task(group.submit(4))
    await database.call_started(2)
    pair = [asyncio.create_task(group.submit(number)) for number in (6, 8)]
    await asyncio.sleep(0)
    database.gates[1].set()
    await first
    await database.call_started(3)
    pair[0].cancel()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    database.gates[2].set()

    assert await pair[1] == 80
    assert database.batches[2] == [6, 8]
    assert database.cancelled_calls == 1


async def test_the_leader_does_not_carry_the_context_of_the_request_that_started_it() -> None:
    import contextvars

    request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
    seen: list[str | None] = []

    async def flush(requests: list[int]) -> Sequence[int]:
        seen.append(request_id.get())
        return requests

    group = GroupCommit(flush)
    request_id.set("request-1")

    assert await group.submit(1) == 1
    assert seen == [None]


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError):
        GroupCommit(FakeDatabase().flush, max_batch=0)
