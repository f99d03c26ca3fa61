"""The body limit opens no deadline around a receive that cannot wait (orderly/body_limit.py), and
still times every other: a body that has arrived is read as before, a slow one still gets its 408."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from orderly import body_limit
from orderly.body_limit import BodyLimitMiddleware

BODY = b'{"query": "{ __typename }"}'


class Cycle:
    """What uvicorn's request cycle shows a receive's caller: its message event, set when bytes wait."""

    def __init__(self, messages: list[Message], *, arrived: bool) -> None:
        self.messages = messages
        self.message_event = asyncio.Event()
        if arrived:
            self.message_event.set()

    async def receive(self) -> Message:
        await self.message_event.wait()
        return self.messages.pop(0)


async def read_body(app_receive: Receive) -> bytes:
    body = b""
    while True:
        message = await app_receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


async def run(cycle: Cycle, timeout: float = 5.0) -> tuple[list[Message], bytes]:
    read: list[bytes] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        read.append(await read_body(receive))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "headers": [(b"content-length", str(len(BODY)).encode())]}
    await BodyLimitMiddleware(app, max_bytes=1000, timeout=timeout)(scope, cycle.receive, send)
    return sent, (read[0] if read else b"")


@pytest.fixture
def deadlines(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The deadlines the body limit opens."""
    opened: list[float] = []
    real = asyncio.timeout_at

    def counting(when: float) -> Any:
        opened.append(when)
        return real(when)

    monkeypatch.setattr(body_limit.asyncio, "timeout_at", counting)
    return opened


async def test_a_body_that_has_arrived_is_read_without_a_deadline(deadlines: list[float]) -> None:
    sent, read = await run(Cycle([{"type": "http.request", "body": BODY, "more_body": False}], arrived=True))
    assert read == BODY and sent[0]["status"] == 200
    assert deadlines == []


async def test_a_body_still_on_its_way_is_timed(deadlines: list[float]) -> None:
    cycle = Cycle([{"type": "http.request", "body": BODY, "more_body": False}], arrived=False)
    asyncio.get_running_loop().call_soon(cycle.message_event.set)
    sent, read = await run(cycle)
    assert read == BODY and sent[0]["status"] == 200
    assert len(deadlines) == 1


async def test_a_body_that_never_comes_gets_408(deadlines: list[float]) -> None:
    sent, read = await asyncio.wait_for(run(Cycle([], arrived=False), timeout=0.05), 10)
    assert read == b"" and sent[0]["status"] == 408
