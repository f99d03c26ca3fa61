"""The one table from error classes to the contract's codes (schema/errors.py)."""

from __future__ import annotations

import pytest

from domain.errors import (
    CommandIdReusedError,
    ConcurrencyConflictError,
    InvalidInputError,
    InvalidStateError,
    OrderNotFoundError,
    ServiceUnavailableError,
    UnknownCommandError,
)
from schema.errors import BadUserInputError, ConsistencyTimeoutError, error_code


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (InvalidInputError("x"), "BAD_USER_INPUT"),
        (CommandIdReusedError("k"), "BAD_USER_INPUT"),
        (OrderNotFoundError("o"), "NOT_FOUND"),
        (InvalidStateError("x"), "INVALID_STATE"),
        (ConcurrencyConflictError("o", expected=1, actual=2), "CONCURRENCY_CONFLICT"),
        (ServiceUnavailableError("x"), "SERVICE_UNAVAILABLE"),
        (BadUserInputError("x"), "BAD_USER_INPUT"),
        (ConsistencyTimeoutError("x"), "CONSISTENCY_TIMEOUT"),
    ],
)
def test_each_expected_error_has_its_contract_code(error: Exception, code: str) -> None:
    assert error_code(error) == code


@pytest.mark.parametrize("error", [UnknownCommandError("x"), ValueError("x"), OSError("refused")])
def test_anything_else_has_no_code_and_is_masked_by_the_caller(error: Exception) -> None:
    assert error_code(error) is None
