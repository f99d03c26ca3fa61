"""The persisted-query registry a process reads: an in-process LRU in front of the shared table.

A hit costs no database round trip. A miss reads the table, because another process may
have stored the document; what it finds is cached, what it does not find is not (a client
that sends unknown hashes pays a primary-key read each time, inside the request rate limit).
Entries are re-read after `ttl` seconds, so `orderly persisted remove` reaches running
processes within that time without a restart.

Storing is a write a client can cause, so it is bounded three ways: only documents that ran
are stored (they passed parsing, validation and every document limit, and authentication),
a principal (with authentication off: a client address) stores at most `register_burst`
documents and then `register_rate` a second, and the table holds at most `max_entries`
client documents. Past a bound the operation still runs; its document is just not kept, and
the client goes on sending the text.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from orderly.persisted_query_store import PersistedQueryStore, StoredQuery
from orderly.rate_limit import LocalBuckets
from resolvers.document_limits import text_bytes


@dataclass(frozen=True)
class _Cached:
    query: StoredQuery
    size: int
    loaded_at: float


class PersistedQueryRegistry:
    """Look documents up by hash (cache, then table) and store clients' documents within bounds."""

    def __init__(
        self,
        store: PersistedQueryStore,
        *,
        max_entries: int,
        cache_bytes: int,
        ttl: float = 60.0,
        register_rate: float = 1.0,
        register_burst: int = 100,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.max_entries = max_entries
        self.cache_bytes = cache_bytes
        self.ttl = ttl
        self._clock = clock
        self._registrations = LocalBuckets(register_rate, register_burst, clock=clock)
        self._cache: OrderedDict[str, _Cached] = OrderedDict()
        self._bytes = 0

    async def lookup(self, sha256: str) -> StoredQuery | None:
        """The document registered under this hash, or None."""
        now = self._clock()
        cached = self._cache.get(sha256)
        if cached is not None and now - cached.loaded_at < self.ttl:
            self._cache.move_to_end(sha256)
            return cached.query
        found = await self.store.get(sha256)
        self._forget(sha256)
        if found is not None:
            self._keep(found, now)
        return found

    async def register_from_client(self, sha256: str, document: str, client_key: str) -> bool:
        """Store a document a client's operation ran with, within the bounds; True when stored now."""
        if sha256 in self._cache:
            return False
        if self._registrations.take(client_key) is not None:
            return False
        return await self.store.add_from_client(sha256, document, max_entries=self.max_entries)

    def _keep(self, query: StoredQuery, now: float) -> None:
        size = text_bytes(query.document)
        if size > self.cache_bytes:
            return
        self._cache[query.sha256] = _Cached(query, size, now)
        self._bytes += size
        while self._bytes > self.cache_bytes:
            _, evicted = self._cache.popitem(last=False)
            self._bytes -= evicted.size

    def _forget(self, sha256: str) -> None:
        cached = self._cache.pop(sha256, None)
        if cached is not None:
            self._bytes -= cached.size

    def __len__(self) -> int:
        return len(self._cache)
