"""ORDERLY_PERSISTED_QUERIES*: the persisted-query mode and the bounds on what clients may store."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from orderly.persisted_queries import PersistedQueryMode
from orderly.setting_values import non_negative_int, positive_float, positive_int, read


def mode(raw: str) -> PersistedQueryMode:
    """off, apq or allowlist."""
    try:
        return PersistedQueryMode(raw.strip().lower())
    except ValueError:
        raise ValueError("must be off, apq or allowlist") from None


@dataclass(frozen=True, kw_only=True)
class PersistedQuerySettings:
    """APQ by default: it runs nothing that free text could not, and clients' stores are bounded."""

    mode: PersistedQueryMode = PersistedQueryMode.APQ
    max_entries: int = 10_000  # documents clients may store through APQ, all processes together
    register_rate: float = 1.0  # documents a second one principal (or address) may store, after a burst of
    register_burst: int = 100
    cache_bytes: int = 1_048_576  # document text each process keeps in memory (least recently used out)

    @classmethod
    def from_mapping(cls, env: Mapping[str, str]) -> PersistedQuerySettings:
        """Read the persisted-query settings from env."""
        d = cls()
        return cls(
            mode=read(env, "ORDERLY_PERSISTED_QUERIES", mode, d.mode),
            max_entries=read(env, "ORDERLY_PERSISTED_QUERIES_MAX", non_negative_int, d.max_entries),
            register_rate=read(env, "ORDERLY_PERSISTED_QUERIES_REGISTER_RATE", positive_float, d.register_rate),
            register_burst=read(env, "ORDERLY_PERSISTED_QUERIES_REGISTER_BURST", positive_int, d.register_burst),
            cache_bytes=read(env, "ORDERLY_PERSISTED_QUERIES_CACHE_BYTES", non_negative_int, d.cache_bytes),
        )
