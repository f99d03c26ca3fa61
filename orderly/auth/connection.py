"""What authentication keeps per WebSocket connection: the connection_init payload strawberry
hands over, when the token stops being accepted, and the task that acts then.

strawberry builds the context once per connection and calls the view's `on_ws_connect` with
it after connection_init: that is where the principal is set, for every operation the socket
then runs. A token expires while the socket lives on, so `watch_expiry` ends the socket's
running operations with UNAUTHENTICATED at the deadline, and `token_expired` refuses new ones.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from schema.context import Context

logger = logging.getLogger(__name__)

EXPIRED_MESSAGE = "The token has expired: connect again with a fresh one"


@dataclass(kw_only=True)
class ConnectionContext(Context):
    """A WebSocket connection's context: strawberry fills `connection_params` from connection_init."""

    connection_params: dict[str, Any] | None = None
    deadline: float | None = None  # Unix time after which the token is no longer accepted
    expiry_task: asyncio.Task[None] | None = field(default=None, repr=False)


def token_expired(context: object) -> bool:
    """True once the connection's token is past its deadline (never with authentication off)."""
    deadline = context.deadline if isinstance(context, ConnectionContext) else None
    return deadline is not None and time.time() >= deadline


def expired_error() -> dict[str, object]:
    """The formatted GraphQL error an operation gets when the connection's token has expired."""
    return {"message": EXPIRED_MESSAGE, "extensions": {"code": "UNAUTHENTICATED"}}


def watch_expiry(context: object, end_operations: Callable[[], Awaitable[None]]) -> None:
    """Once per connection: call `end_operations` when the token's deadline passes."""
    if not isinstance(context, ConnectionContext) or context.deadline is None or context.expiry_task is not None:
        return
    context.expiry_task = asyncio.create_task(_at_deadline(context.deadline, end_operations))


async def stop_watching(context: object) -> None:
    """Cancel the connection's expiry task, if any (the socket is closing)."""
    task = context.expiry_task if isinstance(context, ConnectionContext) else None
    if task is None or task.done():
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


async def _at_deadline(deadline: float, end_operations: Callable[[], Awaitable[None]]) -> None:
    await asyncio.sleep(max(deadline - time.time(), 0.0))
    try:
        await end_operations()
    except Exception:  # the socket may be closing at the same moment
        logger.debug("ending operations at token expiry failed", exc_info=True)
