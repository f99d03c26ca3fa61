"""What a projector decides for one batch: rows to upsert per table, and each touched stream's version."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table


@dataclass(frozen=True, kw_only=True)
class Upsert:
    """Rows to insert or replace in one read-model table.

    With `newer`, an existing row is replaced only when the new row's `newer` column is
    higher (a stream version): a batch can never move a row back in time.
    """

    table: Table
    rows: Sequence[Mapping[str, Any]]
    key: tuple[str, ...]
    newer: str | None = None


@dataclass(frozen=True, kw_only=True)
class BatchChanges:
    """What a projector decided for one batch: the writes, and each touched stream's version."""

    upserts: tuple[Upsert, ...] = ()
    streams: dict[str, int] = field(default_factory=dict)
