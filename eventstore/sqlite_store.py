"""The event store on SQLite (aiosqlite): one writer at a time, so positions commit in order.

Appends run in BEGIN IMMEDIATE transactions (Database.write_engine): the appending
transaction is the only writer until it ends, so positions (AUTOINCREMENT) become visible
in position order and read_log needs none of PostgreSQL's filtering (postgres_store.py).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, func, insert, select

from domain.errors import ConcurrencyConflictError
from domain.ports import CommandStamp, RecordedEvent
from eventstore.bus import NotificationBus
from eventstore.codec import decode_or_unreadable
from eventstore.database import Database
from eventstore.sql_store import EVENT_COLUMNS, BeforeCommit, SqlEventStore, recorded
from eventstore.tables import commands, events

_READ_LOG = (
    select(*EVENT_COLUMNS).where(events.c.position > bindparam("after")).order_by(events.c.position).limit(bindparam("limit"))
)
_STREAM_VERSION = select(func.coalesce(func.max(events.c.version), 0)).where(events.c.stream_id == bindparam("stream_id"))
_INSERT_EVENTS = insert(events).returning(events.c.position, sort_by_parameter_order=True)
_INSERT_COMMAND = insert(commands)


class SqliteEventStore(SqlEventStore):
    """Appends under SQLite's single writer lock; reads the log as it is."""

    def __init__(
        self,
        database: Database,
        bus: NotificationBus | None = None,
        *,
        before_commit: BeforeCommit | None = None,
    ) -> None:
        super().__init__(database, bus, database.engine)
        # Test hook: awaited inside the append transaction after the rows are written,
        # to widen race windows. Production code leaves it unset.
        self._before_commit = before_commit

    async def read_log(self, after: int, limit: int) -> list[RecordedEvent]:
        """Events after `after` in position order (every committed row is safe to tail); undecodable ones unreadable."""
        rows = await self._fetch(_READ_LOG, {"after": after, "limit": limit})
        return [recorded(row._mapping, row.data, decode_or_unreadable) for row in rows]

    async def _write(
        self,
        stream_id: str,
        stream_type: str,
        documents: list[dict[str, Any]],
        expected_version: int,
        command: CommandStamp,
    ) -> tuple[int, int, int]:
        # BEGIN IMMEDIATE: this transaction is the only writer until it ends, so the
        # version read here cannot change before the insert.
        async with self._database.write_engine.begin() as connection:
            actual = (await connection.execute(_STREAM_VERSION, {"stream_id": stream_id})).scalar_one()
            if actual != expected_version:
                raise ConcurrencyConflictError(stream_id, expected=expected_version, actual=actual)
            rows = [
                {
                    **document,
                    "stream_id": stream_id,
                    "stream_type": stream_type,
                    "version": expected_version + index,
                    "command_id": command.command_id,
                }
                for index, document in enumerate(documents, start=1)
            ]
            positions = (await connection.execute(_INSERT_EVENTS, rows)).scalars().all()
            version = expected_version + len(rows)
            await connection.execute(
                _INSERT_COMMAND,
                {
                    "command_id": command.command_id,
                    "command_type": command.command_type,
                    "fingerprint": command.fingerprint,
                    "stream_id": stream_id,
                    "version": version,
                    "position": positions[-1],
                },
            )
            if self._before_commit is not None:
                await self._before_commit()
        return int(positions[0]), int(positions[-1]), version
