"""JSON Web Tokens: issue one (HS256, for `orderly token` and tests) and verify one into a Principal.

Verification is PyJWT's, with everything a token could choose fixed by the server: the
algorithms come from the key setting (HS256 for a secret; RS256, ES256 or EdDSA for a JWK Set,
bound to each key), never from the token and never "none"; `exp` and `nbf` are required and
checked with a few seconds' leeway; `iss` and `aud` when set. A refused token raises
UnauthenticatedError with a short message of our own: PyJWT's texts name algorithms and keys.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import jwt

from orderly.auth.keys import KeySource
from orderly.auth.settings import AuthSettings
from schema.errors import UnauthenticatedError
from schema.principal import Principal, Role

logger = logging.getLogger(__name__)

HS256 = "HS256"
_REQUIRED_CLAIMS = ["exp", "nbf", "sub"]
_REFUSALS: tuple[tuple[type[jwt.InvalidTokenError], str], ...] = (
    (jwt.ExpiredSignatureError, "The token has expired"),
    (jwt.ImmatureSignatureError, "The token is not valid yet"),
    (jwt.InvalidIssuerError, "The token's issuer is not accepted"),
    (jwt.InvalidAudienceError, "The token's audience is not accepted"),
    (jwt.MissingRequiredClaimError, "The token lacks a required claim (exp, nbf and sub)"),
    (jwt.InvalidSignatureError, "The token's signature is not valid"),
    (jwt.InvalidAlgorithmError, "The token's algorithm is not accepted"),
    (jwt.DecodeError, "The token is malformed"),
)


def issue_token(
    secret: str,
    *,
    subject: str,
    roles: Iterable[str],
    ttl: float,
    customer_id: str | None = None,
    issuer: str | None = None,
    audience: str | None = None,
    customer_claim: str = "customer_id",
) -> str:
    """An HS256 token for `subject` with `roles`, valid from now for `ttl` seconds.

    `customer_id` goes in the claim `customer_claim` (the server reads the one
    ORDERLY_AUTH_CUSTOMER_CLAIM names; with its default, `sub`, the customer is the subject)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject,
        "roles": list(roles),
        "iat": now,
        "nbf": now,
        "exp": now + max(int(ttl), 1),
        "jti": str(uuid.uuid4()),
    }
    if customer_id is not None:
        claims[customer_claim] = customer_id
    if issuer is not None:
        claims["iss"] = issuer
    if audience is not None:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm=HS256)


class TokenVerifier:
    """Turns a compact JWT into the Principal it proves, or raises UnauthenticatedError."""

    def __init__(self, settings: AuthSettings, keys: KeySource) -> None:
        self._settings = settings
        self._keys = keys
        self._jwt = jwt.PyJWT(options={"enforce_minimum_key_length": True})

    async def verify(self, token: str) -> Principal:
        """The principal of a valid token; UnauthenticatedError for any other."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise UnauthenticatedError("The token is malformed") from None
        key = await self._keys.key_for(header)
        try:
            claims = self._jwt.decode(
                token,
                key,
                algorithms=list(self._keys.algorithms),
                issuer=self._settings.issuer,
                audience=self._settings.audience,
                leeway=self._settings.leeway,
                options={
                    "require": _REQUIRED_CLAIMS + (["iss"] if self._settings.issuer else []),
                    "verify_aud": self._settings.audience is not None,
                    "verify_iss": self._settings.issuer is not None,
                },
            )
        except jwt.InvalidTokenError as error:
            raise UnauthenticatedError(_refusal(error)) from None
        return principal_from_claims(claims, self._settings)


def principal_from_claims(claims: Mapping[str, Any], settings: AuthSettings) -> Principal:
    """The caller a verified token names: its subject, its known roles and its customer id."""
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise UnauthenticatedError("The token's subject (sub) must be a non-empty string")
    customer = claims.get(settings.customer_claim)
    expires = claims["exp"]
    return Principal(
        subject=subject,
        roles=_roles(claims.get(settings.roles_claim)),
        customer_id=customer if isinstance(customer, str) and customer else None,
        expires_at=datetime.fromtimestamp(float(expires), UTC),
        authenticated=True,
    )


def _roles(value: object) -> frozenset[Role]:
    # A list of names or one space-separated string (OAuth's `scope` style); names the API
    # does not know are ignored, so a token with none of ours has no role.
    names: Iterable[object]
    if isinstance(value, str):
        names = value.split()
    elif isinstance(value, list | tuple):
        names = value
    else:
        return frozenset()
    known = {role.value: role for role in Role}
    return frozenset(known[name] for name in names if isinstance(name, str) and name in known)


def _refusal(error: jwt.InvalidTokenError) -> str:
    for kind, message in _REFUSALS:
        if isinstance(error, kind):
            return message
    logger.info("token refused: %s", type(error).__name__)
    return "The token is not valid"
