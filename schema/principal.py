"""Who sends a request: the principal the edge authenticated, and the roles the API knows.

The transport (orderly/auth) turns a token into a Principal; resolvers decide with it. With
authentication off (allowed only on loopback, or with ORDERLY_AUTH=off) every request is OPEN,
which may do everything, as before authentication existed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Role(StrEnum):
    """What a principal may do; admin includes staff."""

    CUSTOMER = "customer"
    STAFF = "staff"
    ADMIN = "admin"


@dataclass(frozen=True, kw_only=True)
class Principal:
    """An authenticated caller (subject, roles, the customer it is) or OPEN when auth is off."""

    subject: str | None
    roles: frozenset[Role]
    customer_id: str | None = None
    expires_at: datetime | None = None
    authenticated: bool = True


OPEN = Principal(subject=None, roles=frozenset(Role), authenticated=False)
