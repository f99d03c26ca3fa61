"""`orderly persisted add FILE... | list [--all] | remove HASH...`: the allow-list, kept by operators.

Registering happens here and never through the API. `add` checks every document first (see
orderly/persisted_query_files.py) and writes nothing when one is bad. Running API processes
see an added document at its first use and a removed one within a minute (their caches
re-read entries after that). Exit status: 0 done, 1 a hash to remove is not registered, 2 a
usage error or a file that cannot be registered.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from eventstore.database import create_database
from orderly.persisted_query_files import DocumentFileError, DocumentToRegister, read_documents
from orderly.persisted_query_store import QuerySource, StoredQuery, open_persisted_query_store
from orderly.settings import Settings
from resolvers.graphql_schema import build_schema


async def run_persisted(args: argparse.Namespace, settings: Settings) -> int:
    """Run one `orderly persisted` action."""
    if args.action == "list":
        if args.items:
            print("orderly persisted list: takes no arguments (use --all for clients' documents too)", file=sys.stderr)
            return 2
    elif not args.items:
        what = "files (.graphql, or a persisted-query manifest .json)" if args.action == "add" else "hashes"
        print(f"orderly persisted {args.action}: name the {what}", file=sys.stderr)
        return 2
    documents: list[DocumentToRegister] = []
    if args.action == "add":
        schema = build_schema()._schema  # noqa: SLF001 - graphql-core validates against it (strawberry pinned)
        try:
            for item in args.items:
                documents.extend(read_documents(Path(item), schema, settings.operation_limits))
        except DocumentFileError as error:
            print(f"orderly persisted add: {error}; nothing was registered", file=sys.stderr)
            return 2
    database = create_database(settings.database_url, pool_size=1, max_overflow=0)
    store = open_persisted_query_store(database)
    try:
        if args.action == "add":
            for document in documents:
                added = await store.add_from_operator(document.sha256, document.text)
                print(f"{'added' if added else 'listed already'} {document.sha256}  {document.origin}")
            return 0
        if args.action == "list":
            _print_rows(await store.all(None if args.all else QuerySource.OPERATOR))
            return 0
        missing = 0
        for sha256 in args.items:
            if await store.remove(sha256.lower()):
                print(f"removed {sha256.lower()}")
            else:
                print(f"orderly persisted remove: {sha256} is not registered", file=sys.stderr)
                missing += 1
        return 1 if missing else 0
    finally:
        await database.dispose()


def _print_rows(listed: Sequence[StoredQuery]) -> None:
    if not listed:
        print("no persisted queries")
        return
    print(f"{'sha256':<64}  {'source':<8}  {'created':<20}  document")
    for row in listed:
        first_line = " ".join(row.document.split())[:60]
        print(f"{row.sha256}  {row.source.value:<8}  {row.created_at:%Y-%m-%d %H:%M:%S}  {first_line}")
