"""Generations: a projection's tables exist as `<table>__g<N>`, its logical names are views of the live one.

Readers (the API, the queries modules) only ever name the logical tables; a view per
logical name selects the live generation's columns, listed explicitly. A blue-green rebuild
fills generation N+1 beside the live N and switches by replacing the views in the same
transaction that moves the checkpoint (projections/switch.py), so every process reads the
new generation the moment that transaction commits. Writers (the runners) always write the
physical tables of the generation their checkpoint row names: SQLite views are read-only.

Generation 1 is what migration 0003 made by renaming the original tables, so its indexes and
primary keys keep their original names; later generations suffix every name with `__g<N>`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache

from sqlalchemy import MetaData, Table, inspect, quoted_name, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.schema import CreateTable

from projections.projector import Projector

_SUFFIX = re.compile(r"^(?P<table>.+)__g(?P<generation>[0-9]+)$")


def physical_name(name: str, generation: int) -> str:
    """The physical table of a logical table in a generation."""
    return f"{name}__g{generation}"


def object_name(name: str, generation: int) -> str:
    """An index or constraint name in a generation (generation 1 kept the migration's names)."""
    return name if generation == 1 else f"{name}__g{generation}"


@cache
def generation_metadata(generation: int) -> MetaData:
    """The MetaData holding every projection's tables of one generation."""
    return MetaData()


@cache
def physical_table(table: Table, generation: int) -> Table:
    """The logical table's physical Table in a generation (same columns, names suffixed)."""
    copy = table.to_metadata(generation_metadata(generation), name=physical_name(table.name, generation))
    if copy.primary_key.name is not None:
        copy.primary_key.name = object_name(str(copy.primary_key.name), generation)
    sources = {index.name: index for index in table.indexes}
    for index in copy.indexes:
        source = sources[index.name]
        index.name = quoted_name(object_name(str(index.name), generation), None)
        if source._ddl_if is not None:  # e.g. the trigram index: PostgreSQL only
            index.ddl_if(dialect=source._ddl_if.dialect, callable_=source._ddl_if.callable_, state=source._ddl_if.state)
    return copy


def generation_tables(projector: Projector, generation: int) -> dict[Table, Table]:
    """Each of the projector's logical tables, mapped to its physical table in the generation."""
    return {table: physical_table(table, generation) for table in projector.tables}


def view_sql(table: Table, generation: int) -> str:
    """CREATE VIEW of the logical name over the generation's table, its columns listed."""
    listed = ", ".join(f'"{column.name}"' for column in table.columns)
    return f'CREATE VIEW "{table.name}" AS SELECT {listed} FROM "{physical_name(table.name, generation)}"'


async def create_generation(conn: AsyncConnection, projector: Projector, generation: int, *, indexes: bool = True) -> None:
    """Create the generation's tables, empty (inside the caller's transaction); with indexes=False only
    their primary keys: create_indexes adds the others once the tables are filled."""
    tables = list(generation_tables(projector, generation).values())
    if indexes:
        await conn.run_sync(lambda sync: generation_metadata(generation).create_all(sync, tables=tables))
        return
    for table in tables:
        await conn.execute(CreateTable(table))


async def create_indexes(conn: AsyncConnection, projector: Projector, generation: int) -> None:
    """Create the generation's secondary indexes that do not exist yet (inside the caller's transaction).

    A blue-green rebuild fills its new generation with only the primary keys and builds the
    others here, before the switch: one index build over the filled table costs a fraction of
    keeping the index up to date row by row (the trigram index most: about 4x on this machine).
    """
    tables = list(generation_tables(projector, generation).values())

    def create(sync: Connection) -> None:
        for table in tables:
            for index in table.indexes:
                index.create(sync, checkfirst=True)  # honours the index's dialect condition (the trigram index)

    await conn.run_sync(create)


async def drop_generation(conn: AsyncConnection, projector: Projector, generation: int) -> None:
    """Drop the generation's tables if they exist (inside the caller's transaction)."""
    for table in projector.tables:
        await conn.execute(text(f'DROP TABLE IF EXISTS "{physical_name(table.name, generation)}"'))


async def point_views(conn: AsyncConnection, projector: Projector, generation: int) -> None:
    """Make the projector's logical names views of the generation (inside the caller's transaction).

    PostgreSQL replaces a view in place (same columns: prepared statements re-plan, nothing
    fails); SQLite has no CREATE OR REPLACE VIEW, but its DDL is transactional too.
    """
    for table in projector.tables:
        if conn.dialect.name == "postgresql":
            await conn.execute(text(view_sql(table, generation).replace("CREATE VIEW", "CREATE OR REPLACE VIEW", 1)))
        else:
            await conn.execute(text(f'DROP VIEW IF EXISTS "{table.name}"'))
            await conn.execute(text(view_sql(table, generation)))


async def existing_generations(conn: AsyncConnection, projector: Projector) -> set[int]:
    """The generations of which at least one of the projector's tables exists."""
    names = await conn.run_sync(lambda sync: _table_names(sync))
    logical = {table.name for table in projector.tables}
    found = set()
    for name in names:
        match = _SUFFIX.match(name)
        if match is not None and match["table"] in logical:
            found.add(int(match["generation"]))
    return found


def _table_names(sync: Connection) -> Sequence[str]:
    return inspect(sync).get_table_names()
