"""ORDERLY_LIMIT_* settings: every limit has a default, each can be changed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from orderly.setting_values import non_negative_int, positive_float, positive_int, read
from resolvers.document_limits import DocumentLimits


@dataclass(frozen=True, kw_only=True)
class OperationLimits(DocumentLimits):
    """Limits on one GraphQL document and its execution (defined, with their defaults, in
    resolvers/document_limits.py; the schema applies them on every transport)."""

    @classmethod
    def from_mapping(cls, env: Mapping[str, str]) -> OperationLimits:
        """Read the operation limits from env."""
        d = cls()
        return cls(
            max_document_bytes=read(env, "ORDERLY_LIMIT_DOCUMENT_BYTES", positive_int, d.max_document_bytes),
            max_tokens=read(env, "ORDERLY_LIMIT_TOKENS", positive_int, d.max_tokens),
            max_selections=read(env, "ORDERLY_LIMIT_SELECTIONS", positive_int, d.max_selections),
            max_repeats=read(env, "ORDERLY_LIMIT_REPEATS", positive_int, d.max_repeats),
            max_depth=read(env, "ORDERLY_LIMIT_DEPTH", positive_int, d.max_depth),
            max_aliases=read(env, "ORDERLY_LIMIT_ALIASES", non_negative_int, d.max_aliases),
            max_mutations=read(env, "ORDERLY_LIMIT_MUTATIONS", positive_int, d.max_mutations),
            max_cost=read(env, "ORDERLY_LIMIT_COST", positive_int, d.max_cost),
            max_concurrent_reads=read(env, "ORDERLY_LIMIT_CONCURRENT_READS", positive_int, d.max_concurrent_reads),
            max_response_bytes=read(env, "ORDERLY_LIMIT_RESPONSE_BYTES", positive_int, d.max_response_bytes),
            max_cached_document_bytes=read(
                env, "ORDERLY_LIMIT_CACHED_DOCUMENT_BYTES", non_negative_int, d.max_cached_document_bytes
            ),
            document_cache_bytes=read(env, "ORDERLY_LIMIT_DOCUMENT_CACHE_BYTES", non_negative_int, d.document_cache_bytes),
        )


@dataclass(frozen=True, kw_only=True)
class TransportLimits:
    """Limits on HTTP requests, WebSocket connections and request rates."""

    body_bytes: int = 1024 * 1024  # an HTTP request body, and one WebSocket message
    header_bytes: int = 64 * 1024  # the request line and all headers together
    header_count: int = 100
    header_timeout: float = 10.0  # seconds from a connection (or a request's first byte) to its last header
    body_timeout: float = 10.0  # seconds to receive a whole request body
    ws_init_timeout: float = 5.0  # seconds from the WebSocket handshake to connection_init
    ws_connections: int = 1000  # open WebSockets per process
    ws_subscriptions: int = 100  # operations at a time on one WebSocket
    ws_subscriptions_per_principal: int = 1000  # across all of the process's sockets
    statement_timeout: float = 10.0  # seconds, PostgreSQL reads
    rate: float = 500.0  # requests (and WebSocket operations) per second per principal
    rate_burst: int = 1000
    # Most tokens a process takes from a principal's shared (Redis) bucket per round trip, capped
    # at burst/10; the limit may be exceeded by processes x lease (orderly/rate_leases.py); 1: exact.
    rate_lease: int = 50

    @classmethod
    def from_mapping(cls, env: Mapping[str, str]) -> TransportLimits:
        """Read the transport and rate limits from env."""
        d = cls()
        return cls(
            body_bytes=read(env, "ORDERLY_LIMIT_BODY_BYTES", positive_int, d.body_bytes),
            header_bytes=read(env, "ORDERLY_LIMIT_HEADER_BYTES", positive_int, d.header_bytes),
            header_count=read(env, "ORDERLY_LIMIT_HEADER_COUNT", positive_int, d.header_count),
            header_timeout=read(env, "ORDERLY_LIMIT_HEADER_TIMEOUT", positive_float, d.header_timeout),
            body_timeout=read(env, "ORDERLY_LIMIT_BODY_TIMEOUT", positive_float, d.body_timeout),
            ws_init_timeout=read(env, "ORDERLY_LIMIT_WS_INIT_TIMEOUT", positive_float, d.ws_init_timeout),
            ws_connections=read(env, "ORDERLY_LIMIT_WS_CONNECTIONS", positive_int, d.ws_connections),
            ws_subscriptions=read(env, "ORDERLY_LIMIT_WS_SUBSCRIPTIONS", positive_int, d.ws_subscriptions),
            ws_subscriptions_per_principal=read(
                env, "ORDERLY_LIMIT_WS_SUBSCRIPTIONS_PER_PRINCIPAL", positive_int, d.ws_subscriptions_per_principal
            ),
            statement_timeout=read(env, "ORDERLY_LIMIT_STATEMENT_TIMEOUT", positive_float, d.statement_timeout),
            rate=read(env, "ORDERLY_LIMIT_RATE", positive_float, d.rate),
            rate_burst=read(env, "ORDERLY_LIMIT_RATE_BURST", positive_int, d.rate_burst),
            rate_lease=read(env, "ORDERLY_LIMIT_RATE_LEASE", positive_int, d.rate_lease),
        )
