"""Errors the API raises, and how every GraphQL error gets the contract's extensions.code.

Expected failures keep their message; anything unexpected is logged with its traceback and
reaches the client as a masked INTERNAL_SERVER_ERROR.
"""

from __future__ import annotations

import logging
from typing import ClassVar

from graphql import GraphQLError
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError

from domain.errors import DomainError
from eventstore.database import is_unavailable

logger = logging.getLogger(__name__)

INTERNAL_MESSAGE = "Internal server error"
# Syntax and validation errors, and strawberry's refusals of a request before execution (no query, no single operation to run,
# an operation type the transport does not serve): the request itself is invalid.
_REQUEST_ERRORS = (GraphQLError, MissingQueryError, CannotGetOperationTypeError, InvalidOperationTypeError)
UNAVAILABLE_MESSAGE = "The database cannot be reached; retry later"


class ApiError(Exception):
    """An expected failure raised by the API layer itself."""

    code: ClassVar[str] = "BAD_USER_INPUT"


class BadUserInputError(ApiError):
    """An argument is out of range or malformed."""

    code = "BAD_USER_INPUT"


class ConsistencyTimeoutError(ApiError):
    """The read model did not catch up within the client's timeout."""

    code = "CONSISTENCY_TIMEOUT"


def assign_codes(errors: list[GraphQLError]) -> None:
    """Give each error its contract code in place; mask and log the unexpected ones."""
    for error in errors:
        code, message = _classify(error)
        if message is not None:
            error.message = message
        error.extensions = {**(error.extensions or {}), "code": code}


def _classify(error: GraphQLError) -> tuple[str, str | None]:
    if error.extensions and "code" in error.extensions:
        return str(error.extensions["code"]), None
    original = error.original_error
    while isinstance(original, GraphQLError) and original.original_error is not None:
        original = original.original_error
    if isinstance(original, DomainError | ApiError):
        return original.code, None
    if original is None or isinstance(original, _REQUEST_ERRORS):
        # Syntax and validation errors: the request itself is invalid.
        return "BAD_USER_INPUT", None
    if error.path is None and isinstance(original, ValueError | TypeError):
        # A variable that its scalar could not parse, before execution started.
        return "BAD_USER_INPUT", None
    if is_unavailable(original):
        logger.warning("database unavailable at %s: %r", error.path, original)
        return "SERVICE_UNAVAILABLE", UNAVAILABLE_MESSAGE
    logger.error("unexpected error at %s", error.path, exc_info=original)
    return "INTERNAL_SERVER_ERROR", INTERNAL_MESSAGE
