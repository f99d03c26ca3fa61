"""The persisted-query table and the registry in front of it, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import pytest

from domain.errors import ServiceUnavailableError
from eventstore.database import Database
from orderly.persisted_queries import PersistedQueries, PersistedQueryMode, PersistedQueryRefusal, document_hash
from orderly.persisted_query_registry import PersistedQueryRegistry
from orderly.persisted_query_store import PersistedQueryStore, QuerySource, open_persisted_query_store
from schema.principal import OPEN


def a_document() -> str:
    return f"query Q{uuid.uuid4().hex} {{ __typename }}"


class CountingStore:
    """The real store, counting its reads."""

    def __init__(self, store: PersistedQueryStore) -> None:
        self.store = store
        self.reads = 0

    async def get(self, sha256: str):  # noqa: ANN201 - the store's
        self.reads += 1
        return await self.store.get(sha256)

    async def add_from_client(self, sha256: str, document: str, *, max_entries: int) -> bool:
        return await self.store.add_from_client(sha256, document, max_entries=max_entries)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def registry(store: object, clock: FakeClock | None = None, **bounds: int) -> PersistedQueryRegistry:
    options = {"max_entries": 100, "cache_bytes": 1_000_000, "register_burst": 100, **bounds}
    return PersistedQueryRegistry(store, clock=clock or FakeClock(), **options)  # type: ignore[arg-type]


async def test_a_client_document_is_stored_once_and_read_back(database: Database) -> None:
    store = open_persisted_query_store(database)
    document = a_document()
    sha = document_hash(document)
    assert await store.get(sha) is None
    assert await store.add_from_client(sha, document, max_entries=10) is True
    assert await store.add_from_client(sha, document, max_entries=10) is False  # there already
    stored = await store.get(sha)
    assert stored is not None
    assert (stored.sha256, stored.document, stored.source) == (sha, document, QuerySource.APQ)
    assert stored.created_at.tzinfo is not None


async def test_clients_store_at_most_max_entries_but_operators_are_not_counted(database: Database) -> None:
    store = open_persisted_query_store(database)
    assert await store.add_from_operator(document_hash(listed := a_document()), listed) is True
    first, second = a_document(), a_document()
    assert await store.add_from_client(document_hash(first), first, max_entries=1) is True
    assert await store.add_from_client(document_hash(second), second, max_entries=1) is False
    assert await store.get(document_hash(second)) is None
    assert [q.document for q in await store.all(QuerySource.APQ)] == [first]


async def test_an_operator_takes_over_a_client_document_and_removes_it(database: Database) -> None:
    store = open_persisted_query_store(database)
    document = a_document()
    sha = document_hash(document)
    await store.add_from_client(sha, document, max_entries=10)
    assert await store.add_from_operator(sha, document) is True
    assert await store.add_from_operator(sha, document) is False  # listed already
    stored = await store.get(sha)
    assert stored is not None and stored.source is QuerySource.OPERATOR
    assert [q.sha256 for q in await store.all(QuerySource.OPERATOR)] == [sha]
    assert await store.remove(sha) is True
    assert await store.remove(sha) is False
    assert await store.get(sha) is None


async def test_a_hit_costs_no_read_a_miss_reads_the_table_each_time(database: Database) -> None:
    store = CountingStore(open_persisted_query_store(database))
    reg = registry(store)
    document = a_document()
    sha = document_hash(document)
    assert await reg.lookup(sha) is None
    assert await reg.lookup(sha) is None
    assert store.reads == 2  # misses are not cached: another process may store it meanwhile
    await open_persisted_query_store(database).add_from_client(sha, document, max_entries=10)  # "another process"
    found = await reg.lookup(sha)
    assert found is not None and found.document == document
    assert (await reg.lookup(sha)) == found
    assert store.reads == 3


async def test_entries_are_read_again_after_the_ttl(database: Database) -> None:
    clock = FakeClock()
    plain = open_persisted_query_store(database)
    store = CountingStore(plain)
    reg = registry(store, clock)
    document = a_document()
    sha = document_hash(document)
    await plain.add_from_operator(sha, document)
    assert await reg.lookup(sha) is not None
    await plain.remove(sha)  # `orderly persisted remove` in another process
    assert await reg.lookup(sha) is not None  # still cached
    clock.now += reg.ttl
    assert await reg.lookup(sha) is None
    assert store.reads == 2


async def test_the_cache_is_bounded_by_its_bytes(database: Database) -> None:
    plain = open_persisted_query_store(database)
    documents = [a_document() for _ in range(5)]
    for document in documents:
        await plain.add_from_operator(document_hash(document), document)
    reg = registry(plain, cache_bytes=2 * len(documents[0]))
    for document in documents:
        await reg.lookup(document_hash(document))
    assert len(reg) == 2


@pytest.mark.parametrize("burst", [1, 3])
async def test_one_client_stores_at_most_its_burst(database: Database, burst: int) -> None:
    plain = open_persisted_query_store(database)
    reg = registry(plain, register_burst=burst)
    documents = [a_document() for _ in range(burst + 2)]
    stored = [await reg.register_from_client(document_hash(d), d, "addr:10.0.0.1") for d in documents]
    assert stored == [True] * burst + [False, False]
    other = a_document()
    assert await reg.register_from_client(document_hash(other), other, "addr:10.0.0.2") is True
    assert len(await plain.all(QuerySource.APQ)) == burst + 1


class UnreachableStore:
    async def get(self, sha256: str) -> None:
        raise ServiceUnavailableError("The database cannot be reached; retry later")


async def test_an_unreachable_table_is_service_unavailable_not_a_crash() -> None:
    rules = PersistedQueries(PersistedQueryMode.APQ, registry(UnreachableStore()))
    with pytest.raises(PersistedQueryRefusal) as refused:
        await rules.resolve(None, {"persistedQuery": {"version": 1, "sha256Hash": "ab" * 32}}, OPEN)
    assert refused.value.error() == {
        "message": "The database cannot be reached; retry later",
        "extensions": {"code": "SERVICE_UNAVAILABLE"},
    }


async def test_a_client_sending_hash_and_text_every_time_writes_once(database: Database) -> None:
    store = CountingStore(open_persisted_query_store(database))
    writes: list[str] = []
    add = store.add_from_client

    async def counting_add(sha256: str, document: str, *, max_entries: int) -> bool:
        writes.append(sha256)
        return await add(sha256, document, max_entries=max_entries)

    store.add_from_client = counting_add  # type: ignore[method-assign]
    rules = PersistedQueries(PersistedQueryMode.APQ, registry(store))
    document = a_document()
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": document_hash(document)}}
    for _ in range(3):
        resolved = await rules.resolve(document, extensions, OPEN)
        assert resolved.text == document
        await rules.remember(resolved, "addr:10.0.0.3")
    assert writes == [document_hash(document)]
    assert store.reads == 2  # the miss before the write, then the read that filled the cache
