"""Where the keys that verify tokens come from: a shared secret, a JWK Set file, or a JWK Set URL.

Each source fixes the algorithms it accepts; a JWK Set binds one algorithm to each key (PyJWT
refuses a token whose `alg` is not its key's), so a token cannot pick HS256 with an RSA public
key as its secret, nor "none".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import jwt
from jwt import PyJWK, PyJWKClient, PyJWKSet

from orderly.auth.settings import AuthSettings
from orderly.setting_values import SettingsError
from schema.errors import UnauthenticatedError

logger = logging.getLogger(__name__)

ASYMMETRIC: tuple[str, ...] = ("RS256", "ES256", "EdDSA")
JWKS_CACHE_SECONDS = 300.0
JWKS_FETCH_TIMEOUT = 5.0
UNKNOWN_KEY = "The token's signing key is not known"


class KeySource(Protocol):
    """The key for a token's header, and the algorithms tokens may use."""

    algorithms: tuple[str, ...]

    async def key_for(self, header: Mapping[str, Any]) -> str | PyJWK:
        """The key that must have signed a token with this header."""
        ...


class SecretKey:
    """One HS256 secret for every token."""

    algorithms: tuple[str, ...] = ("HS256",)

    def __init__(self, secret: str) -> None:
        self._secret = secret

    async def key_for(self, header: Mapping[str, Any]) -> str | PyJWK:
        """The secret."""
        return self._secret


class JwksFileKeys:
    """A JWK Set read once from a file; a token names its key by `kid` (optional if the set has one key)."""

    algorithms: tuple[str, ...] = ASYMMETRIC

    def __init__(self, path: str) -> None:
        try:
            jwk_set = PyJWKSet.from_json(Path(path).read_text())
        except (OSError, jwt.PyJWTError, ValueError) as error:
            raise SettingsError(f"ORDERLY_AUTH_JWKS={path!r}: not a readable JWK Set ({type(error).__name__})") from None
        self._keys = _signing_keys(jwk_set)
        if not self._keys:
            raise SettingsError(f"ORDERLY_AUTH_JWKS={path!r}: no RS256, ES256 or EdDSA signing key in the set")

    async def key_for(self, header: Mapping[str, Any]) -> str | PyJWK:
        """The key named by the header's kid."""
        kid = header.get("kid")
        if kid is None and len(self._keys) == 1:
            return self._keys[0]
        key = _match(self._keys, kid)
        if key is None:
            raise UnauthenticatedError(UNKNOWN_KEY)
        return key


class JwksUrlKeys:
    """A JWK Set fetched over https, cached for five minutes and fetched again (once, at most every
    `cooldown` seconds) when a token names a `kid` the cached set lacks: a rotated key is picked
    up, and a stream of random kids cannot make the server hammer the identity provider.

    PyJWKClient fetches with blocking urllib, so a fetch runs in a worker thread; a token whose
    key is already cached is served on the event loop.
    """

    algorithms: tuple[str, ...] = ASYMMETRIC

    def __init__(self, url: str, *, cooldown: float) -> None:
        self._client = PyJWKClient(
            url, cache_jwk_set=True, lifespan=JWKS_CACHE_SECONDS, timeout=JWKS_FETCH_TIMEOUT, cooldown_duration=cooldown
        )

    async def key_for(self, header: Mapping[str, Any]) -> str | PyJWK:
        """The key named by the header's kid, from the cache or a fetch."""
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise UnauthenticatedError("The token must name its signing key (kid)")
        cache = self._client.jwk_set_cache
        cached = cache.get() if cache is not None else None
        key = _match(_signing_keys(cached), kid) if cached is not None else None
        if key is not None:
            return key
        try:
            key = await asyncio.to_thread(self._client.get_signing_key, kid)
        except jwt.PyJWKClientConnectionError as error:
            logger.warning("cannot fetch the JWK Set: %s", error)
            raise UnauthenticatedError("The token cannot be verified now: the signing keys are unavailable") from None
        except jwt.PyJWTError:
            raise UnauthenticatedError(UNKNOWN_KEY) from None
        if key.algorithm_name not in ASYMMETRIC:
            raise UnauthenticatedError(UNKNOWN_KEY)
        return key


def key_source(settings: AuthSettings) -> KeySource:
    """The key source the settings name (authentication must be on)."""
    if settings.jwt_secret is not None:
        return SecretKey(settings.jwt_secret)
    if settings.jwks is None:
        raise ValueError("authentication is off: no key source")
    if settings.jwks.lower().startswith(("http://", "https://")):
        return JwksUrlKeys(settings.jwks, cooldown=settings.jwks_refresh_cooldown)
    return JwksFileKeys(settings.jwks)


def _signing_keys(jwk_set: PyJWKSet) -> list[PyJWK]:
    return [key for key in jwk_set.keys if key.public_key_use in ("sig", None) and key.algorithm_name in ASYMMETRIC]


def _match(keys: list[PyJWK], kid: object) -> PyJWK | None:
    return next((key for key in keys if key.key_id == kid), None)
