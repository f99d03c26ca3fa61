"""Typed errors of the write side (the GraphQL edge maps each class to its contract code)."""

from __future__ import annotations


class DomainError(Exception):
    """An expected failure a client can act on."""


class InvalidInputError(DomainError):
    """The command's input breaks a rule (empty items, quantity < 1, ...)."""


class OrderNotFoundError(DomainError):
    """The command names an order that does not exist."""

    def __init__(self, order_id: str) -> None:
        super().__init__(f"order {order_id} does not exist")
        self.order_id = order_id


class InvalidStateError(DomainError):
    """The order's state forbids the command."""


class ConcurrencyConflictError(DomainError):
    """The stream was not at the expected version."""

    def __init__(self, stream_id: str, expected: int, actual: int | None) -> None:
        actual_text = "unknown" if actual is None else str(actual)
        super().__init__(
            f"stream {stream_id} is at version {actual_text}, expected {expected}"
        )
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


class CommandIdReusedError(InvalidInputError):
    """A command id was sent again with a different command."""

    def __init__(self, command_id: str) -> None:
        super().__init__(f"commandId {command_id} was already used for a different command")
        self.command_id = command_id


class UnknownCommandError(Exception):
    """No handler is registered for the command's type (a programming error)."""


class ServiceUnavailableError(DomainError):
    """A store cannot be reached, for a write or a read; safe to retry later.

    Adapters raise it (from the driver's error) where they catch connection failures.
    """


class DuplicateCommandError(Exception):
    """The store already holds this command id (raised by an append that raced a twin)."""

    def __init__(self, command_id: str) -> None:
        super().__init__(f"command {command_id} was already recorded")
        self.command_id = command_id
