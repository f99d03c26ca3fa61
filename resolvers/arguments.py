"""Checks on arguments the contract bounds, each failing with BAD_USER_INPUT."""

from __future__ import annotations

import uuid

from projections.order_views.queries import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE,
    MAX_PAGE_SIZE,
    MAX_SEARCH_TERM_LENGTH,
    MAX_SEARCH_TERMS,
    search_terms,
)
from resolvers.input_values import is_uuid
from schema.errors import BadUserInputError

DEFAULT_WAIT_MS = 2000
MAX_WAIT_MS = 10_000
MAX_SUBSCRIPTION_TIMEOUT_MS = 3_600_000


def check_page(page: int | None, page_size: int | None) -> tuple[int, int]:
    """page from 1 to MAX_PAGE and pageSize from 1 to MAX_PAGE_SIZE (an explicit null means the default)."""
    page = 1 if page is None else page
    page_size = DEFAULT_PAGE_SIZE if page_size is None else page_size
    if not 1 <= page <= MAX_PAGE:
        raise BadUserInputError(f"page must be between 1 and {MAX_PAGE}")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise BadUserInputError(f"pageSize must be between 1 and {MAX_PAGE_SIZE}")
    return page, page_size


def check_search(query: str | None) -> None:
    """At most MAX_SEARCH_TERMS distinct terms, none longer than MAX_SEARCH_TERM_LENGTH."""
    terms = search_terms(query)
    if len(terms) > MAX_SEARCH_TERMS:
        raise BadUserInputError(f"query has {len(terms)} terms; at most {MAX_SEARCH_TERMS} are allowed")
    if any(len(term) > MAX_SEARCH_TERM_LENGTH for term in terms):
        raise BadUserInputError(f"a query term is longer than {MAX_SEARCH_TERM_LENGTH} characters")


def wait_seconds(wait_ms: int | None) -> float:
    """A query's waitMs (default 2000, at most 10000) in seconds."""
    if wait_ms is None:
        wait_ms = DEFAULT_WAIT_MS
    if not 0 <= wait_ms <= MAX_WAIT_MS:
        raise BadUserInputError(f"waitMs must be between 0 and {MAX_WAIT_MS}")
    return wait_ms / 1000


def timeout_seconds(timeout_ms: int | None) -> float | None:
    """A subscription's timeoutMs in seconds, or None for no timeout."""
    if timeout_ms is None:
        return None
    if not 0 <= timeout_ms <= MAX_SUBSCRIPTION_TIMEOUT_MS:
        raise BadUserInputError(f"timeoutMs must be between 0 and {MAX_SUBSCRIPTION_TIMEOUT_MS}")
    return timeout_ms / 1000


def check_min_version(min_version: int) -> None:
    """A stream version to wait for is zero or more."""
    if min_version < 0:
        raise BadUserInputError("minVersion must be zero or more")


def check_expected_version(expected_version: int | None) -> None:
    """An expected version, when given, is zero or more."""
    if expected_version is not None and expected_version < 0:
        raise BadUserInputError("expectedVersion must be zero or more")


# Orders created without a client-chosen id get one derived from the command id, so that
# repeating the command (same commandId) names the same order and is recognised as a repeat.
ORDER_ID_NAMESPACE = uuid.UUID("6f1c1a52-8f0e-4d0e-9a43-2b7d1d6c0c11")


def new_order_id(given: str | None, command_id: str) -> str:
    """The client's order id, which must be a UUID, in lower case; else one from the command id."""
    if given is None:
        return str(uuid.uuid5(ORDER_ID_NAMESPACE, command_id))
    if not is_uuid(given):
        raise BadUserInputError(f"orderId must be a UUID (8-4-4-4-12 hex digits), got {given!r}")
    return given.lower()


def command_id(given: str | None, generate: str) -> str:
    """The client's idempotency key (checked by ValidInput), or a generated one."""
    return generate if given is None else given


def check_projection(name: str, known: tuple[str, ...]) -> None:
    """The projection exists."""
    if name not in known:
        raise BadUserInputError(f"unknown projection {name!r}; known: {', '.join(known)}")
