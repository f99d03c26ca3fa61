"""A page of a read-model table described once, read by whichever backend can read it in one go.

A query module states what a page is (filters, order, limit, offset, and the projection whose
checkpoint position the page reports); a store that implements PageReads reads rows, total
and position in one statement, so the three agree without a snapshot transaction. Stores
without it are read through SQLAlchemy (`sqlalchemy_conditions`, `sqlalchemy_ordering`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import ColumnElement, Table, UnaryExpression

LIKE_ESCAPE = "\\"


class Match(StrEnum):
    """How a filter compares its column with its value."""

    EQUALS = "="
    AT_LEAST = ">="
    AT_MOST = "<="
    LIKE = "LIKE"  # the value is a LIKE pattern whose escape character is LIKE_ESCAPE
    ANY_OF = "IN"  # the value is a tuple of values


@dataclass(frozen=True)
class Filter:
    """One condition of a page: `column match value`."""

    column: str
    match: Match
    value: Any
    # The value is one of a few constants (an enum's members): a store may write it into the
    # statement as a literal, so that the planner can choose a partial index built for it.
    inline: bool = False


@dataclass(frozen=True)
class SortKey:
    """One key of a page's order."""

    column: str
    descending: bool = False


@dataclass(frozen=True, kw_only=True)
class PageQuery:
    """Rows of `table` (only `columns`) matching every filter, in `order`, from `offset`, at most `limit`."""

    table: Table
    columns: tuple[str, ...]
    filters: tuple[Filter, ...]
    order: tuple[SortKey, ...]
    limit: int
    offset: int
    checkpoint: str  # the projection whose position the page reports


@dataclass(frozen=True)
class RowsPage:
    """A page's rows (JSON columns decoded), the total of matching rows and the checkpoint position."""

    rows: Sequence[Mapping[str, Any]]
    total: int
    position: int


@runtime_checkable
class PageReads(Protocol):
    """A store that reads a page, its total and its position in one statement (one snapshot)."""

    async def read_page(self, query: PageQuery) -> RowsPage:
        """The page, its total and the checkpoint's position (0 when it has never run), as of one moment."""
        ...


def sqlalchemy_conditions(query: PageQuery) -> list[ColumnElement[bool]]:
    """The filters as SQLAlchemy conditions on the query's table."""
    conditions: list[ColumnElement[bool]] = []
    for condition in query.filters:
        column = query.table.c[condition.column]
        if condition.match is Match.EQUALS:
            conditions.append(column == condition.value)
        elif condition.match is Match.AT_LEAST:
            conditions.append(column >= condition.value)
        elif condition.match is Match.AT_MOST:
            conditions.append(column <= condition.value)
        elif condition.match is Match.ANY_OF:
            conditions.append(column.in_(condition.value))
        else:
            conditions.append(column.like(condition.value, escape=LIKE_ESCAPE))
    return conditions


def sqlalchemy_ordering(query: PageQuery) -> list[UnaryExpression[Any]]:
    """The order as SQLAlchemy ORDER BY terms."""
    return [query.table.c[key.column].desc() if key.descending else query.table.c[key.column].asc() for key in query.order]
