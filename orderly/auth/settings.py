"""ORDERLY_AUTH_* settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class AuthSettings:
    """How requests are authenticated; with no key setting, authentication is off."""

    @classmethod
    def from_mapping(cls, env: Mapping[str, str]) -> AuthSettings:
        """Read ORDERLY_AUTH_* from env."""
        return cls()
