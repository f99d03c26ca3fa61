"""The rows of a batch still being committed, seen by the plan of the next one.

A runner behind the log plans batch N+1 while batch N commits (runner.py). N+1's fold reads
rows N writes (an order's events span both batches), and the database does not have them
yet: PendingRows answers rows_by_key from N's rows first and asks the store for the rest.
A row comes back as the store would give it: only the asked columns, JSON columns decoded
from their JSON text (a fresh copy: the fold may change it while N's commit encodes the row).

It holds one batch at a time and is emptied when that batch's commit ends: after a COMMIT
the store has the rows; after a failed or lost one, N+1's plan is thrown away with them.
Only upserts keyed by one column are held; keyed reads of other tables go to the store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import orjson
from sqlalchemy import JSON, Table

from projections.changes import Upsert
from projections.read_models import KeyedRows, KeyedSelect


class PendingRows:
    """KeyedRows: the held batch's rows first, then `store` (see the module docstring)."""

    def __init__(self, store: KeyedRows) -> None:
        self._store = store
        self._held: dict[tuple[Table, str], dict[str, Mapping[str, Any]]] = {}

    def hold(self, upserts: Sequence[Upsert]) -> None:
        """The rows of the batch being committed (replacing any held before)."""
        held: dict[tuple[Table, str], dict[str, Mapping[str, Any]]] = {}
        for change in upserts:
            if len(change.key) == 1 and change.rows:
                (key,) = change.key
                rows = held.setdefault((change.table, key), {})
                rows.update((row[key], row) for row in change.rows)
        self._held = held

    def clear(self) -> None:
        """Forget the held rows (their commit ended)."""
        self._held = {}

    async def rows_by_key(self, query: KeyedSelect, values: Sequence[str]) -> list[Mapping[str, Any]]:
        """The rows whose key is one of values: held ones as the store would return them, the rest from the store."""
        held = self._held.get((query.table, query.key))
        if not held:
            return await self._store.rows_by_key(query, values)
        found: list[Mapping[str, Any]] = []
        missing: list[str] = []
        for value in dict.fromkeys(values):
            row = held.get(value)
            if row is None:
                missing.append(value)
            else:
                found.append(_as_read(query, row))
        if missing:
            found.extend(await self._store.rows_by_key(query, missing))
        return found


@cache
def _json_columns(query: KeyedSelect) -> tuple[str, ...]:
    return tuple(column for column in query.columns if isinstance(query.table.c[column].type, JSON))


def _as_read(query: KeyedSelect, row: Mapping[str, Any]) -> dict[str, Any]:
    read = {column: row.get(column) for column in query.columns}
    for column in _json_columns(query):
        read[column] = orjson.loads(orjson.dumps(read[column], default=str))
    return read
