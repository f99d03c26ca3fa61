"""ORDERLY_AUTH_* settings: which keys verify tokens, which claims say who the caller is."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from orderly.setting_values import SettingsError, read

MIN_SECRET_BYTES = 32  # RFC 7518 §3.2: an HS256 key at least as long as the hash (256 bits)
DEFAULT_LEEWAY = 5.0
DEFAULT_JWKS_COOLDOWN = 30.0
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost"})


@dataclass(frozen=True, kw_only=True)
class AuthSettings:
    """How requests are authenticated; with no key setting, authentication is off.

    `jwt_secret` (HS256) and `jwks` (a JWK Set file, or an https URL) are the two ways to verify
    tokens; one at most. `off` records an explicit ORDERLY_AUTH=off, which lets `serve` run
    open on a host that is not loopback.
    """

    jwt_secret: str | None = field(default=None, repr=False)
    jwks: str | None = None
    issuer: str | None = None
    audience: str | None = None
    roles_claim: str = "roles"
    customer_claim: str = "sub"
    leeway: float = DEFAULT_LEEWAY
    jwks_refresh_cooldown: float = DEFAULT_JWKS_COOLDOWN
    off: bool = False

    def __post_init__(self) -> None:
        if self.jwt_secret is not None and self.jwks is not None:
            raise SettingsError("set ORDERLY_AUTH_JWT_SECRET or ORDERLY_AUTH_JWKS, not both")
        if self.jwt_secret is not None and len(self.jwt_secret.encode()) < MIN_SECRET_BYTES:
            raise SettingsError(f"ORDERLY_AUTH_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes long for HS256")
        if self.jwks is not None and _is_url(self.jwks) and not _is_safe_url(self.jwks):
            raise SettingsError(f"ORDERLY_AUTH_JWKS={self.jwks!r}: a JWK Set URL must be https (http only on a loopback host)")
        if self.off and self.enabled:
            raise SettingsError("ORDERLY_AUTH=off contradicts ORDERLY_AUTH_JWT_SECRET / ORDERLY_AUTH_JWKS")
        if not self.roles_claim or not self.customer_claim:
            raise SettingsError("ORDERLY_AUTH_ROLES_CLAIM and ORDERLY_AUTH_CUSTOMER_CLAIM must name a claim")

    @property
    def enabled(self) -> bool:
        """True when a key setting is present: every request then needs a valid token."""
        return self.jwt_secret is not None or self.jwks is not None

    @classmethod
    def from_mapping(cls, env: Mapping[str, str]) -> AuthSettings:
        """Read ORDERLY_AUTH_* from env."""
        defaults = cls()
        mode = read(env, "ORDERLY_AUTH", _mode, None)
        settings = cls(
            jwt_secret=read(env, "ORDERLY_AUTH_JWT_SECRET", str, None),
            jwks=read(env, "ORDERLY_AUTH_JWKS", str.strip, None) or None,
            issuer=read(env, "ORDERLY_AUTH_ISSUER", str, None),
            audience=read(env, "ORDERLY_AUTH_AUDIENCE", str, None),
            roles_claim=read(env, "ORDERLY_AUTH_ROLES_CLAIM", str.strip, defaults.roles_claim),
            customer_claim=read(env, "ORDERLY_AUTH_CUSTOMER_CLAIM", str.strip, defaults.customer_claim),
            leeway=read(env, "ORDERLY_AUTH_LEEWAY", _seconds, defaults.leeway),
            jwks_refresh_cooldown=read(env, "ORDERLY_AUTH_JWKS_COOLDOWN", _seconds, defaults.jwks_refresh_cooldown),
            off=mode == "off",
        )
        if mode == "on" and not settings.enabled:
            raise SettingsError("ORDERLY_AUTH=on needs ORDERLY_AUTH_JWT_SECRET or ORDERLY_AUTH_JWKS")
        return settings


def _mode(raw: str) -> str:
    mode = raw.strip().lower()
    if mode not in {"on", "off"}:
        raise ValueError("must be on or off")
    return mode


def _seconds(raw: str) -> float:
    value = float(raw)
    if not 0 <= value <= 3600:
        raise ValueError("must be a number of seconds from 0 to 3600")
    return value


def _is_url(value: str) -> bool:
    return value.lower().startswith(("http://", "https://"))


def _is_safe_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme.lower() == "https" or is_loopback(parts.hostname or "")


def is_loopback(host: str) -> bool:
    """True for a host name or address that only this machine can reach."""
    host = host.strip().strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def open_serve_refusal(settings: AuthSettings, host: str) -> str | None:
    """Why `serve` must not run open on this host, or None: with authentication off, only a
    loopback host is safe, unless ORDERLY_AUTH=off says the operator means it."""
    if settings.enabled or settings.off or is_loopback(host):
        return None
    return (
        f"refusing to serve on {host} with authentication off: anyone who reaches the port could read and "
        "change every order. Set ORDERLY_AUTH_JWT_SECRET or ORDERLY_AUTH_JWKS, serve on 127.0.0.1, "
        "or set ORDERLY_AUTH=off to run open on purpose."
    )


def describe(settings: AuthSettings) -> str:
    """A few words for the start-up line."""
    if settings.jwt_secret is not None:
        return "authentication: JWT, HS256 secret"
    if settings.jwks is not None:
        return "authentication: JWT, JWK Set"
    return "authentication OFF: every request may do everything"
