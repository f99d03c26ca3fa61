"""Parsed documents and their validation results, kept by text and bounded in bytes.

strawberry's ParserCache and ValidationCache are LRU caches bounded by count (1,024 entries
each) over any document: ten distinct 1.1 MB queries took a process from 625 MB to 1,388 MB.
Here one cache holds both, for one schema: a document is kept only below a size, and the
texts kept add up to at most a budget (a parsed document takes some tens of times its text
in memory, so the budget bounds the cache's memory to a known multiple). Keys are the texts,
not the parsed documents, which graphql-core hashes and compares node by node.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from graphql import DocumentNode, GraphQLError


@dataclass
class CachedDocument:
    """One document and its validation errors by the rules it was validated with."""

    document: DocumentNode
    size: int
    validations: dict[tuple[type, ...], list[GraphQLError]] = field(default_factory=dict)
    plans: object | None = None  # what resolvers/compiled_objects.py compiled for it


class DocumentCache:
    """An LRU cache of documents by text, at most `max_entry_bytes` each and `max_total_bytes` in all."""

    def __init__(self, *, max_entry_bytes: int, max_total_bytes: int) -> None:
        self.max_entry_bytes = max_entry_bytes
        self.max_total_bytes = max_total_bytes
        self._entries: OrderedDict[str, CachedDocument] = OrderedDict()
        self._bytes = 0

    def get(self, text: str) -> CachedDocument | None:
        """The cached document for this text, now the most recently used, or None."""
        entry = self._entries.get(text)
        if entry is not None:
            self._entries.move_to_end(text)
        return entry

    def put(self, text: str, document: DocumentNode, size: int) -> CachedDocument | None:
        """Keep the document unless it is too large; evicts the least recently used to fit."""
        if size > self.max_entry_bytes or size > self.max_total_bytes:
            return None
        previous = self._entries.pop(text, None)
        if previous is not None:
            self._bytes -= previous.size
        entry = CachedDocument(document=document, size=size)
        self._entries[text] = entry
        self._bytes += size
        while self._bytes > self.max_total_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= evicted.size
        return entry

    @property
    def size(self) -> int:
        """Bytes of text held."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)
