"""read_log's cut on PostgreSQL (eventstore/postgres_store.py: safe_prefix) keeps exactly the rows the
statement's window functions used to keep: a prefix of rows each following the one before it (the
first: the checkpoint) or older than every running transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventstore.postgres_store import safe_prefix

# The rule as the read statement spelled it before the cut moved into Python.
WINDOWED = """
    SELECT "position" FROM (
        SELECT *, bool_and(safe) OVER (ORDER BY "position") AS prefix
        FROM (
            SELECT *, "position" = coalesce(lag("position") OVER (ORDER BY "position"), $1) + 1 OR old AS safe
            FROM unnest($2::bigint[], $3::bool[]) AS visible("position", old)
        ) AS checked
    ) AS cut
    WHERE prefix
    ORDER BY "position"
"""


@pytest.fixture
async def connection(postgres_url: str) -> AsyncIterator[asyncpg.Connection]:
    plain = await asyncpg.connect(postgres_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        yield plain
    finally:
        await plain.close()


@st.composite
def reads(draw: st.DrawFn) -> tuple[int, list[dict[str, object]]]:
    """A checkpoint and the visible rows after it: positions ascending, with gaps, each old or not."""
    after = draw(st.integers(0, 5))
    steps = draw(st.lists(st.integers(1, 3), max_size=12))
    olds = draw(st.lists(st.booleans(), min_size=len(steps), max_size=len(steps)))
    positions, position = [], after
    for step in steps:
        position += step
        positions.append(position)
    return after, [{"position": p, "old": old} for p, old in zip(positions, olds, strict=True)]


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(read=reads())
async def test_the_cut_equals_the_window_functions(
    connection: asyncpg.Connection, read: tuple[int, list[dict[str, object]]]
) -> None:
    after, rows = read
    kept = await connection.fetch(WINDOWED, after, [row["position"] for row in rows], [row["old"] for row in rows])
    assert [row["position"] for row in safe_prefix(rows, after)] == [record["position"] for record in kept]


def test_a_gap_stops_the_read_unless_the_row_is_old() -> None:
    rows = [{"position": 3, "old": False}, {"position": 5, "old": False}, {"position": 6, "old": True}]
    assert safe_prefix(rows, 2) == rows[:1]
    assert safe_prefix([{"position": 4, "old": False}], 2) == []
    assert safe_prefix([{"position": 4, "old": True}, {"position": 5, "old": False}], 2) == [
        {"position": 4, "old": True},
        {"position": 5, "old": False},
    ]
