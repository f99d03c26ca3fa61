"""Errors the API raises, and how every GraphQL error gets the contract's extensions.code.

One table maps each expected error class to its code; such failures keep their message.
Anything unexpected is logged with its traceback and reaches the client as a masked
INTERNAL_SERVER_ERROR.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from graphql import GraphQLError
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError

from domain.errors import (
    ConcurrencyConflictError,
    DomainError,
    InvalidInputError,
    InvalidStateError,
    OrderNotFoundError,
    ServiceUnavailableError,
)
from projections.consistency import StreamParkedError

logger = logging.getLogger(__name__)

INTERNAL_MESSAGE = "Internal server error"
# Syntax and validation errors, and strawberry's refusals of a request before execution (no
# query, no single operation to run, an operation type the transport does not serve): the
# request itself is invalid.
_REQUEST_ERRORS = (GraphQLError, MissingQueryError, CannotGetOperationTypeError, InvalidOperationTypeError)


class ApiError(Exception):
    """An expected failure raised by the API layer itself."""


class BadUserInputError(ApiError):
    """An argument is out of range or malformed."""


class ConsistencyTimeoutError(ApiError):
    """The read model did not catch up within the client's timeout."""


class UnauthenticatedError(ApiError):
    """Authentication is on and the token is missing, malformed, badly signed or expired."""


class ForbiddenError(ApiError):
    """Authenticated, but the role or the owner forbids it."""


class LimitExceededError(ApiError):
    """An operation, transport or rate limit; `limit` names it (extensions.limit)."""

    def __init__(self, limit: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.limit = limit
        self.retry_after = retry_after


# The contract's code for each expected error; a subclass takes its nearest listed ancestor's.
ERROR_CODES: Mapping[type[Exception], str] = {
    InvalidInputError: "BAD_USER_INPUT",
    OrderNotFoundError: "NOT_FOUND",
    InvalidStateError: "INVALID_STATE",
    ConcurrencyConflictError: "CONCURRENCY_CONFLICT",
    ServiceUnavailableError: "SERVICE_UNAVAILABLE",
    DomainError: "BAD_USER_INPUT",
    BadUserInputError: "BAD_USER_INPUT",
    ConsistencyTimeoutError: "CONSISTENCY_TIMEOUT",
    UnauthenticatedError: "UNAUTHENTICATED",
    ForbiddenError: "FORBIDDEN",
    LimitExceededError: "LIMIT_EXCEEDED",
    StreamParkedError: "PROJECTION_FAILED",
    ApiError: "BAD_USER_INPUT",
}


def error_code(error: BaseException) -> str | None:
    """The contract code of an expected error, None for anything else."""
    for cls in type(error).__mro__:
        code = ERROR_CODES.get(cls)
        if code is not None:
            return code
    return None


def assign_codes(errors: list[GraphQLError]) -> None:
    """Give each error its contract code in place; mask and log the unexpected ones."""
    for error in errors:
        code, message = _classify(error)
        if message is not None:
            error.message = message
        extensions = {**(error.extensions or {}), "code": code}
        original = _innermost(error)
        if isinstance(original, LimitExceededError):
            extensions["limit"] = original.limit
        error.extensions = extensions


def _innermost(error: GraphQLError) -> BaseException | None:
    original = error.original_error
    while isinstance(original, GraphQLError) and original.original_error is not None:
        original = original.original_error
    return original


def _classify(error: GraphQLError) -> tuple[str, str | None]:
    if error.extensions and "code" in error.extensions:
        return str(error.extensions["code"]), None
    original = _innermost(error)
    code = None if original is None else error_code(original)
    if code is not None:
        if isinstance(original, ServiceUnavailableError):
            logger.warning("service unavailable at %s: %r (from %r)", error.path, original, original.__cause__)
        return code, None
    if original is None or isinstance(original, _REQUEST_ERRORS):
        # Syntax and validation errors: the request itself is invalid.
        return "BAD_USER_INPUT", None
    if error.path is None and isinstance(original, ValueError | TypeError):
        # A variable that its scalar could not parse, before execution started.
        return "BAD_USER_INPUT", None
    logger.error("unexpected error at %s", error.path, exc_info=original)
    return "INTERNAL_SERVER_ERROR", INTERNAL_MESSAGE
