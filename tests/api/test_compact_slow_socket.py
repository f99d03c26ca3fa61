"""A socket that does not read holds up only its own handed-over subscriptions.

uvicorn's WebSocket send waits while the transport is paused (a client that stopped reading).
The process has one delivery task for every handed-over orderUpdated subscription, so it must
not wait for such a send: here one handler's send never returns until released, and another
socket's subscription still gets every new version; the stuck one then gets its versions in order.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from orderly.compact_subscriptions import CompactOperation
from resolvers.update_handoff import Handoff, OrderWatch


@dataclass
class View:
    version: int


class Tracker:
    def watch(self, name: str, key: str, inbox: Any) -> None:
        pass

    def unwatch(self, name: str, key: str, inbox: Any) -> None:
        pass


class Reader:
    def __init__(self) -> None:
        self.versions: dict[str, int] = {}

    async def get(self, order_id: str) -> View:
        return View(self.versions[order_id])


class Handler:
    def __init__(self, *, stuck: bool) -> None:
        self.sent: list[int] = []
        self.arrived = asyncio.Condition()
        self.released = asyncio.Event()
        if not stuck:
            self.released.set()

    async def send_message(self, message: dict[str, Any]) -> None:
        await self.released.wait()  # a paused transport
        async with self.arrived:
            self.sent.append(message["payload"]["data"]["order"]["version"])
            self.arrived.notify_all()

    async def received(self, versions: list[int]) -> None:
        async with self.arrived:
            await asyncio.wait_for(self.arrived.wait_for(lambda: self.sent == versions), timeout=5)

    def forget_id(self, operation_id: str) -> None:
        pass


def subscription(handler: Handler, reader: Reader, order_id: str) -> CompactOperation:
    handoff = Handoff()
    handoff.watch = OrderWatch(Tracker(), reader, order_id)  # type: ignore[arg-type]
    handoff.renderer = lambda order: {"version": order.version}  # type: ignore[assignment]
    operation = CompactOperation(handler, f"op-{order_id}", handoff, "order", ("", None, None), legacy=False)
    operation.start()
    return operation


async def test_a_socket_that_does_not_read_holds_up_only_its_own_subscriptions() -> None:
    reader = Reader()
    stuck, free = Handler(stuck=True), Handler(stuck=False)
    stuck_one, free_one = subscription(stuck, reader, "o-stuck"), subscription(free, reader, "o-free")
    try:
        reader.versions.update({"o-stuck": 1, "o-free": 1})
        stuck_one.due(stuck_one.watch)
        free_one.due(free_one.watch)
        await free.received([1])

        reader.versions.update({"o-stuck": 2, "o-free": 2})
        stuck_one.due(stuck_one.watch)
        free_one.due(free_one.watch)
        await free.received([1, 2])
        assert stuck.sent == []

        stuck.released.set()
        await stuck.received([1, 2])
    finally:
        stuck.released.set()
        stuck_one.close()
        free_one.close()
