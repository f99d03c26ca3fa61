"""Persisted queries: Apollo's automatic persisted queries (APQ) protocol, and an allow-list mode.

A request names its document by `extensions.persistedQuery = {version: 1, sha256Hash}`, with or
without the text. Every transport (POST, GET, both WebSocket protocols) turns the request into
the document's text here, before anything executes; the text then runs through the schema like
any other, so authentication, the document limits, cost, the rate limit, the read gate and the
operation metrics apply to it unchanged.

- `apq` (the default): a hash alone runs the registered document, or answers
  PersistedQueryNotFound (Apollo's message and code, HTTP 200, never cached), after which
  Apollo's link sends the hash with the text; a text whose SHA-256 is not the hash is refused;
  a matching one runs and, once it has run, is stored for every process (bounded: see
  orderly/persisted_query_registry.py). Requests without the extension are served as always.
- `allowlist`: only documents an operator registered (`orderly persisted add`) run, named by
  hash or sent as text; anything else is PERSISTED_QUERY_NOT_IN_LIST (Apollo Router's code).
  Clients store nothing. A token with the admin role is exempt, so GraphiQL stays usable for
  operators; with authentication off nobody is.
- `off`: requests with the extension get PersistedQueryNotSupported (Apollo clients then stop
  sending hashes).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

import orjson
from starlette.responses import Response

from domain.errors import ServiceUnavailableError
from eventstore.database import Database
from orderly.persisted_query_registry import PersistedQueryRegistry
from orderly.persisted_query_store import QuerySource, StoredQuery, open_persisted_query_store
from schema.principal import Principal, Role

if TYPE_CHECKING:
    from orderly.persisted_query_settings import PersistedQuerySettings

log = logging.getLogger(__name__)

_HASH = re.compile(r"[0-9a-fA-F]{64}")
# Never kept by a CDN or a browser: the same URL answers the document once it is registered.
NO_CACHE = {"Cache-Control": "private, no-cache, must-revalidate"}


class PersistedQueryMode(StrEnum):
    """ORDERLY_PERSISTED_QUERIES."""

    OFF = "off"
    APQ = "apq"
    ALLOWLIST = "allowlist"


class PersistedQueryRefusal(Exception):
    """A request the persisted-query rules refuse before anything runs, as the client sees it."""

    def __init__(self, message: str, code: str, *, status: int = 200, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.headers = dict(NO_CACHE if headers is None else headers)

    def error(self) -> dict[str, object]:
        """The formatted GraphQL error."""
        return {"message": self.message, "extensions": {"code": self.code}}


def not_found() -> PersistedQueryRefusal:
    """Apollo Server's answer to an unknown hash, which Apollo's link answers with the text."""
    return PersistedQueryRefusal("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND")


def not_supported() -> PersistedQueryRefusal:
    """Apollo Server's answer when persisted queries are off."""
    return PersistedQueryRefusal("PersistedQueryNotSupported", "PERSISTED_QUERY_NOT_SUPPORTED")


def not_in_list() -> PersistedQueryRefusal:
    """Allow-list mode: the document is not registered."""
    return PersistedQueryRefusal(
        "This server runs registered operations only, and this one is not registered", "PERSISTED_QUERY_NOT_IN_LIST"
    )


def bad_request(message: str) -> PersistedQueryRefusal:
    """A malformed persistedQuery extension, or a text that does not match its hash (400, as Apollo Server)."""
    return PersistedQueryRefusal(message, "BAD_USER_INPUT", status=400)


HASH_MISMATCH = "provided sha does not match query"  # Apollo Server's words
UNSUPPORTED_VERSION = "Unsupported persisted query version"
MALFORMED = "extensions.persistedQuery must be an object {version: 1, sha256Hash: 64 hexadecimal characters}"


@dataclass(frozen=True)
class ResolvedQuery:
    """The text to execute (None when the request has none), and the hash to store it under once it ran."""

    text: str | None
    register: str | None = None


def document_hash(text: str) -> str:
    """The lower-case hexadecimal SHA-256 of a document's UTF-8 text, as Apollo's clients compute it."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class PersistedQueries:
    """Turns a request's query and extensions into the text to execute, by the mode's rules."""

    def __init__(self, mode: PersistedQueryMode, registry: PersistedQueryRegistry | None) -> None:
        if mode is not PersistedQueryMode.OFF and registry is None:
            raise ValueError(f"persisted queries {mode.value!r} need a registry")
        self.mode = mode
        self.registry = registry

    async def resolve(self, query: str | None, extensions: object, principal: Principal) -> ResolvedQuery:
        """The text to execute; raises PersistedQueryRefusal. Call it after authentication."""
        persisted = extensions.get("persistedQuery") if isinstance(extensions, dict) else None
        if persisted is None:
            if self.mode is PersistedQueryMode.ALLOWLIST and query is not None and not _exempt(principal):
                await self._require_listed(document_hash(query))
            return ResolvedQuery(query)
        if self.mode is PersistedQueryMode.OFF:
            raise not_supported()
        sha256 = _requested_hash(persisted)
        if query is not None:
            if document_hash(query) != sha256:
                raise bad_request(HASH_MISMATCH)
            if self.mode is PersistedQueryMode.ALLOWLIST:
                if not _exempt(principal):
                    await self._require_listed(sha256)
                return ResolvedQuery(query)
            # Clients that always send both (not Apollo's link) cost a cache hit, not a write.
            known = await self._lookup(sha256)
            return ResolvedQuery(query, register=None if known is not None else sha256)
        stored = await self._lookup(sha256)
        if self.mode is PersistedQueryMode.ALLOWLIST:
            if stored is None or (stored.source is not QuerySource.OPERATOR and not _exempt(principal)):
                raise not_in_list()
        elif stored is None:
            raise not_found()
        return ResolvedQuery(stored.document)

    async def remember(self, resolved: ResolvedQuery, client_key: str) -> None:
        """After the operation ran: store a client's document (APQ mode; within the registry's bounds)."""
        if resolved.register is None or self.registry is None or resolved.text is None:
            return
        try:
            await self.registry.register_from_client(resolved.register, resolved.text, client_key)
        except Exception:  # noqa: BLE001 - the operation has run; failing to keep its text costs a resend
            log.warning("persisted query %s not stored", resolved.register, exc_info=True)

    async def _require_listed(self, sha256: str) -> None:
        stored = await self._lookup(sha256)
        if stored is None or stored.source is not QuerySource.OPERATOR:
            raise not_in_list()

    async def _lookup(self, sha256: str) -> StoredQuery | None:
        assert self.registry is not None  # every mode but OFF has one (see __init__)
        try:
            return await self.registry.lookup(sha256)
        except ServiceUnavailableError as error:
            raise PersistedQueryRefusal(str(error), "SERVICE_UNAVAILABLE") from error


def _requested_hash(persisted: object) -> str:
    if not isinstance(persisted, dict):
        raise bad_request(MALFORMED)
    version = persisted.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise bad_request(MALFORMED)
    if version != 1:
        raise bad_request(UNSUPPORTED_VERSION)
    sha256 = persisted.get("sha256Hash")
    if not isinstance(sha256, str) or _HASH.fullmatch(sha256) is None:
        raise bad_request(MALFORMED)
    return sha256.lower()


def _exempt(principal: Principal) -> bool:
    # Only a token proves an admin: with authentication off every request is OPEN (all roles).
    return principal.authenticated and Role.ADMIN in principal.roles


def refusal_response(refusal: PersistedQueryRefusal, media_type: str) -> Response:
    """The HTTP answer to a refusal: its own status whatever the media type (Apollo's link reads a
    400 or 500 as "persisted queries unsupported" and stops sending hashes), never cached."""
    body = orjson.dumps({"errors": [refusal.error()]})
    return Response(body, status_code=refusal.status, media_type=media_type, headers=refusal.headers)


def build_persisted_queries(settings: PersistedQuerySettings, database: Database) -> PersistedQueries:
    """The persisted-query rules for these settings, over the database's table."""
    if settings.mode is PersistedQueryMode.OFF:
        return PersistedQueries(settings.mode, None)
    registry = PersistedQueryRegistry(
        open_persisted_query_store(database),
        max_entries=settings.max_entries,
        cache_bytes=settings.cache_bytes,
        register_rate=settings.register_rate,
        register_burst=settings.register_burst,
    )
    return PersistedQueries(settings.mode, registry)
