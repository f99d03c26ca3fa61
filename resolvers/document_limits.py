"""The limits on one GraphQL document and its execution, and how a refusal looks.

Every limit has a default that serves every legitimate client of the API (GraphiQL's
introspection, the bench's operations, a page of 100 orders with their customers); the
settings (ORDERLY_LIMIT_*, orderly/limit_settings.py) change them. A refusal is a GraphQL
error with extensions.code LIMIT_EXCEEDED and extensions.limit naming the limit, on every
transport, because the checks live in the schema's extensions.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphql import GraphQLError

from schema.errors import LimitExceededError

# extensions.limit of each refusal
DOCUMENT_BYTES = "documentBytes"
TOKENS = "tokens"
SELECTIONS = "selections"
REPEATS = "repeats"
DEPTH = "depth"
ALIASES = "aliases"
MUTATIONS = "mutations"
COST = "cost"
RESPONSE_BYTES = "responseBytes"


@dataclass(frozen=True, kw_only=True)
class DocumentLimits:
    """What one document may ask for; the defaults are the served limits."""

    # Before parsing: the text itself (a 10 MB string, 1.9 MB of aliases).
    max_document_bytes: int = 32_768
    # While parsing: graphql-core stops at the first token over the limit (a 100,000-item list).
    # Parsing costs about 10 to 25 us a token (GraphiQL's introspection query has about 400).
    max_tokens: int = 2_000
    # Before validation: selections with every fragment spread expanded (bounds every walk
    # over the document, fragment fan-out included), then how often one selection set repeats
    # a response name or spreads a fragment (graphql-core compares those pairwise).
    max_selections: int = 300
    max_repeats: int = 10
    max_depth: int = 10
    max_aliases: int = 50
    max_mutations: int = 10
    # Before execution, with the variables: reads, waits and rows (resolvers/operation_cost.py).
    max_cost: int = 1_000
    # During execution: root fields of one operation reading the database at once.
    max_concurrent_reads: int = 4
    # After execution: the JSON size of the data.
    max_response_bytes: int = 5_000_000
    # The parse and validation cache: documents above this size are not kept, and the kept
    # ones hold at most document_cache_bytes of text. A parsed document takes 10 to 100 times
    # its text (measured: 12x for long names, 96x for dense fields), so about 25 MB at most.
    max_cached_document_bytes: int = 4_096
    document_cache_bytes: int = 262_144


def limit_error(limit: str, message: str) -> GraphQLError:
    """A refusal, as the GraphQL error schema.errors.assign_codes gives LIMIT_EXCEEDED and `limit`."""
    return GraphQLError(message, original_error=LimitExceededError(limit, message))


def text_bytes(text: str) -> int:
    """The UTF-8 size of a text (without encoding it when it is ASCII)."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
