"""Settings: a frozen dataclass built from a mapping (the environment by default)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from orderly.auth.settings import AuthSettings
from orderly.limit_settings import OperationLimits, TransportLimits
from orderly.metrics_settings import MetricsSettings
from orderly.persisted_query_settings import PersistedQuerySettings
from orderly.setting_values import (
    SettingsError,
    boolean,
    log_format,
    log_level,
    non_negative_int,
    origins,
    port,
    positive_float,
    positive_int,
    read,
)

__all__ = ["Settings", "SettingsError"]

DEFAULT_DATABASE_URL = "sqlite:///orderly.db"


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
    # A runner catching up doubles its batches up to this (projections/runner.py); at least batch_size.
    # Larger batches write each order row fewer times (README: ORDERLY_MAX_BATCH_SIZE) for more memory.
    max_batch_size: int = 50000
    projection_retries: int = 3  # failed attempts of a batch retried before its poison stream is parked
    # PostgreSQL: whether a projector's batch COMMIT waits for the WAL flush (projections/postgres_read_models.py).
    projection_synchronous_commit: bool = False
    db_pool_size: int = 20
    db_max_overflow: int = 10
    db_pool_timeout: float = 5.0
    log_level: str = "INFO"
    log_format: str = "text"  # or "json": orderly/log_config.py
    graphiql: bool = True
    introspection: bool = True
    cors_origins: tuple[str, ...] = ()
    auth: AuthSettings = field(default_factory=AuthSettings)
    operation_limits: OperationLimits = field(default_factory=OperationLimits)
    transport_limits: TransportLimits = field(default_factory=TransportLimits)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    persisted_queries: PersistedQuerySettings = field(default_factory=PersistedQuerySettings)

    @classmethod
    def from_mapping(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read ORDERLY_* variables, with explicit casts and a clear error for a bad value."""
        env = os.environ if env is None else env
        defaults = cls()
        return cls(
            database_url=read(env, "ORDERLY_DATABASE_URL", str, defaults.database_url),
            redis_url=read(env, "ORDERLY_REDIS_URL", str, None) or None,
            bus_namespace=read(env, "ORDERLY_BUS_NAMESPACE", str, None) or None,
            host=read(env, "ORDERLY_HOST", str, defaults.host),
            port=read(env, "ORDERLY_PORT", port, defaults.port),
            run_projectors=read(env, "ORDERLY_PROJECTORS", boolean, defaults.run_projectors),
            poll_interval=read(env, "ORDERLY_POLL_INTERVAL", positive_float, defaults.poll_interval),
            batch_size=read(env, "ORDERLY_BATCH_SIZE", positive_int, defaults.batch_size),
            max_batch_size=read(env, "ORDERLY_MAX_BATCH_SIZE", positive_int, defaults.max_batch_size),
            projection_retries=read(env, "ORDERLY_PROJECTION_RETRIES", non_negative_int, defaults.projection_retries),
            projection_synchronous_commit=read(
                env, "ORDERLY_PROJECTION_SYNCHRONOUS_COMMIT", boolean, defaults.projection_synchronous_commit
            ),
            db_pool_size=read(env, "ORDERLY_DB_POOL_SIZE", positive_int, defaults.db_pool_size),
            db_max_overflow=read(env, "ORDERLY_DB_MAX_OVERFLOW", non_negative_int, defaults.db_max_overflow),
            db_pool_timeout=read(env, "ORDERLY_DB_POOL_TIMEOUT", positive_float, defaults.db_pool_timeout),
            log_level=read(env, "ORDERLY_LOG_LEVEL", log_level, defaults.log_level),
            log_format=read(env, "ORDERLY_LOG_FORMAT", log_format, defaults.log_format),
            graphiql=read(env, "ORDERLY_GRAPHIQL", boolean, defaults.graphiql),
            introspection=read(env, "ORDERLY_INTROSPECTION", boolean, defaults.introspection),
            cors_origins=read(env, "ORDERLY_CORS_ORIGINS", origins, defaults.cors_origins),
            auth=AuthSettings.from_mapping(env),
            operation_limits=OperationLimits.from_mapping(env),
            transport_limits=TransportLimits.from_mapping(env),
            metrics=MetricsSettings.from_mapping(env),
            persisted_queries=PersistedQuerySettings.from_mapping(env),
        )

    def with_changes(self, **changes: Any) -> Settings:
        """A copy with some fields replaced (CLI flags override the environment)."""
        return replace(self, **{key: value for key, value in changes.items() if value is not None})

    @property
    def catch_up_batch_size(self) -> int:
        """The largest batch a runner catching up reads: max_batch_size, never below batch_size."""
        return max(self.max_batch_size, self.batch_size)

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
