"""ORDERLY_LIMIT_* settings: every limit has a default, each can be changed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class OperationLimits:
    """Limits on one GraphQL document and its execution."""

    @classmethod
    def from_mapping(cls, env: Mapping[str, str]) -> OperationLimits:
        """Read the operation limits from env."""
        return cls()


@dataclass(frozen=True, kw_only=True)
class TransportLimits:
    """Limits on HTTP requests, WebSocket connections and request rates."""

    @classmethod
    def from_mapping(cls, env: Mapping[str, str]) -> TransportLimits:
        """Read the transport and rate limits from env."""
        return cls()
