"""Routes each command type to its handler through one explicit table."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from domain.commands import AddOrderItem, CancelOrder, Command, CreateOrder, ShipOrder
from domain.errors import UnknownCommandError
from domain.handlers import handle_order_command
from domain.ports import AppendResult, EventStore

Handler = Callable[[Command, EventStore], Awaitable[AppendResult]]

HANDLERS: Mapping[type, Handler] = {
    CreateOrder: handle_order_command,
    AddOrderItem: handle_order_command,
    ShipOrder: handle_order_command,
    CancelOrder: handle_order_command,
}


class CommandBus:
    """Dispatches commands to their handlers with the store they need."""

    def __init__(self, store: EventStore, handlers: Mapping[type, Handler] = HANDLERS) -> None:
        self._store = store
        self._handlers = handlers

    async def dispatch(self, command: Command) -> AppendResult:
        """Run the command's handler; UnknownCommandError when none is registered."""
        handler = self._handlers.get(type(command))
        if handler is None:
            raise UnknownCommandError(f"no handler registered for {type(command).__name__}")
        return await handler(command, self._store)
