"""Group commit: concurrent requests in one process travel to the database as one call per batch.

The classic "the leader takes what queued": a request that finds no call in flight starts
one at once with itself alone (a lone request waits for no timer); requests that arrive
while a call is in flight queue, and the next call takes all of them (up to max_batch).
The batch is whatever queued during the previous round trip, so it grows with the load
and shrinks to one when the process is idle.

Each request gets its own outcome: the flush returns one result or exception per request.
An exception raised by the flush itself (the database cannot be reached, the connection
died mid-batch) fails every request of that batch, none of the others.

Cancellation: a caller that gives up while its request still queues withdraws it. Once its
batch is in flight the request may still commit (its outcome is unknown to the caller, as
for any request cut off after it reached the database); only when *every* caller of the
batch has given up is the call itself cancelled, and the last of them returns only once
the call has ended (for a lone request: exactly as before group commit).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

Request = TypeVar("Request")
Result = TypeVar("Result")

# One outcome per request, in the order of the requests.
Flush = Callable[[list[Request]], Awaitable[Sequence[Result | BaseException]]]


@dataclass(eq=False, slots=True)
class _Ticket(Generic[Request, Result]):
    """One request's place in the queue, then in its batch."""

    request: Request
    future: asyncio.Future[Result]
    batch: list[_Ticket[Request, Result]] = field(default_factory=list)
    call: asyncio.Future[Any] | None = None


class GroupCommit(Generic[Request, Result]):
    """Queues requests and flushes them in batches, at most `max_in_flight` calls at a time."""

    def __init__(
        self,
        flush: Flush[Request, Result],
        *,
        max_batch: int = 64,
        max_in_flight: int = 1,
        observe_batch: Callable[[int], None] | None = None,
    ) -> None:
        if max_batch < 1 or max_in_flight < 1:
            raise ValueError("max_batch and max_in_flight must be at least 1")
        self._flush = flush
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._observe_batch = observe_batch
        self._queue: deque[_Ticket[Request, Result]] = deque()
        self._leading = 0
        self._leaders: set[asyncio.Task[None]] = set()  # strong references to running leaders

    async def submit(self, request: Request) -> Result:
        """The request's own outcome, once the batch that carried it has committed (or failed)."""
        ticket: _Ticket[Request, Result] = _Ticket(request, asyncio.get_running_loop().create_future())
        self._queue.append(ticket)
        if self._leading < self._max_in_flight:
            # Counted here and uncounted in _lead without an await after its last look at
            # the queue: a request queued after that look always finds a leader slot free.
            self._leading += 1
            # A context of its own: the leader serves other requests than the one that
            # started it, so it must not carry that request's log scope or trace span.
            leader = asyncio.create_task(self._lead(), context=contextvars.Context())
            self._leaders.add(leader)
            leader.add_done_callback(self._leaders.discard)
        try:
            return await ticket.future
        except asyncio.CancelledError:
            call = ticket.call
            if call is not None and not call.done() and all(other.future.cancelled() for other in ticket.batch):
                # The last caller of the batch gave up: cancel the statement and let it end
                # on the server before this caller goes on (it must not commit behind its back).
                call.cancel()
                await asyncio.wait({call})
            raise

    async def _lead(self) -> None:
        batch: list[_Ticket[Request, Result]] = []
        try:
            while self._queue:
                batch = self._take()
                if batch:
                    await self._commit(batch)
                batch = []
        except asyncio.CancelledError:
            # The loop is shutting down: nobody will serve what this leader held or what queues.
            for ticket in [*batch, *self._queue]:
                ticket.future.cancel()
            self._queue.clear()
            raise
        finally:
            self._leading -= 1

    def _take(self) -> list[_Ticket[Request, Result]]:
        batch: list[_Ticket[Request, Result]] = []
        while self._queue and len(batch) < self._max_batch:
            ticket = self._queue.popleft()
            if not ticket.future.done():  # done here means its caller gave up while it queued
                batch.append(ticket)
        return batch

    async def _commit(self, batch: list[_Ticket[Request, Result]]) -> None:
        if self._observe_batch is not None:
            self._observe_batch(len(batch))
        call = asyncio.ensure_future(self._flush([ticket.request for ticket in batch]))
        for ticket in batch:
            ticket.batch, ticket.call = batch, call
        try:
            await asyncio.wait({call})
        except asyncio.CancelledError:
            call.cancel()
            raise
        if call.cancelled():
            return  # every caller of this batch gave up
        error = call.exception()
        outcomes: Sequence[Result | BaseException]
        if error is not None:
            outcomes = [error] * len(batch)
        else:
            outcomes = call.result()
            if len(outcomes) != len(batch):
                outcomes = [RuntimeError(f"the flush returned {len(outcomes)} outcomes for {len(batch)} requests")] * len(batch)
        for ticket, outcome in zip(batch, outcomes, strict=True):
            if ticket.future.done():
                continue
            if isinstance(outcome, BaseException):
                ticket.future.set_exception(outcome)
            else:
                ticket.future.set_result(outcome)
