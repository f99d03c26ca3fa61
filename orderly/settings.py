"""Settings: a frozen dataclass built from a mapping (the environment by default)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

T = TypeVar("T")

DEFAULT_DATABASE_URL = "sqlite:///orderly.db"


class SettingsError(ValueError):
    """An ORDERLY_* variable has a value that cannot be used."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything the composition root needs to build the services."""

    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    bus_namespace: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    run_projectors: bool = True
    poll_interval: float = 1.0
    batch_size: int = 5000
    db_pool_size: int = 20
    db_max_overflow: int = 10
    db_pool_timeout: float = 5.0
    log_level: str = "INFO"
    graphiql: bool = True
    introspection: bool = True
    cors_origins: tuple[str, ...] = ()

    @classmethod
    def from_mapping(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read ORDERLY_* variables, with explicit casts and a clear error for a bad value."""
        env = os.environ if env is None else env
        defaults = cls()
        return cls(
            database_url=_read(env, "ORDERLY_DATABASE_URL", str, defaults.database_url),
            redis_url=_read(env, "ORDERLY_REDIS_URL", str, None) or None,
            bus_namespace=_read(env, "ORDERLY_BUS_NAMESPACE", str, None) or None,
            host=_read(env, "ORDERLY_HOST", str, defaults.host),
            port=_read(env, "ORDERLY_PORT", _port, defaults.port),
            run_projectors=_read(env, "ORDERLY_PROJECTORS", _boolean, defaults.run_projectors),
            poll_interval=_read(env, "ORDERLY_POLL_INTERVAL", _positive_float, defaults.poll_interval),
            batch_size=_read(env, "ORDERLY_BATCH_SIZE", _positive_int, defaults.batch_size),
            db_pool_size=_read(env, "ORDERLY_DB_POOL_SIZE", _positive_int, defaults.db_pool_size),
            db_max_overflow=_read(env, "ORDERLY_DB_MAX_OVERFLOW", _non_negative_int, defaults.db_max_overflow),
            db_pool_timeout=_read(env, "ORDERLY_DB_POOL_TIMEOUT", _positive_float, defaults.db_pool_timeout),
            log_level=_read(env, "ORDERLY_LOG_LEVEL", _log_level, defaults.log_level),
            graphiql=_read(env, "ORDERLY_GRAPHIQL", _boolean, defaults.graphiql),
            introspection=_read(env, "ORDERLY_INTROSPECTION", _boolean, defaults.introspection),
            cors_origins=_read(env, "ORDERLY_CORS_ORIGINS", _origins, defaults.cors_origins),
        )

    def with_changes(self, **changes: Any) -> Settings:
        """A copy with some fields replaced (CLI flags override the environment)."""
        return replace(self, **{key: value for key, value in changes.items() if value is not None})

    @property
    def namespace(self) -> str:
        """The Redis channel prefix: ORDERLY_BUS_NAMESPACE, else the database's name."""
        if self.bus_namespace:
            return self.bus_namespace
        name = self.database_url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]
        return f"orderly.{name or 'default'}"

    @property
    def is_embedded(self) -> bool:
        """True for the SQLite default."""
        return self.database_url.startswith("sqlite")


def _read(env: Mapping[str, str], name: str, cast: Callable[[str], T], default: T) -> T:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return cast(raw)
    except ValueError as error:
        raise SettingsError(f"{name}={raw!r}: {error}") from None


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError("must be a whole number of at least 1")
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("must be a whole number of at least 0")
    return value


def _port(raw: str) -> int:
    value = int(raw)
    if not 0 <= value <= 65535:
        raise ValueError("must be a port number from 0 to 65535")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError("must be a number above 0")
    return value


def _boolean(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError("must be true or false")


def _log_level(raw: str) -> str:
    level = raw.strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
    return level


def _origins(raw: str) -> tuple[str, ...]:
    origins = tuple(part.strip().rstrip("/") for part in raw.split(",") if part.strip())
    for origin in origins:
        scheme, _, rest = origin.partition("://")
        if origin == "*" or scheme not in {"http", "https"} or not rest or "/" in rest:
            raise ValueError(
                f"{origin!r} is not an origin like https://app.example.com (scheme and host, no path, no *)"
            )
    return origins
