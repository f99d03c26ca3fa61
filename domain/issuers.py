"""Who issued a command, when authentication is on: the scope of its command id and of the orders it may touch.

With authentication off a command has no issuer: command ids form one shared namespace and
any order may be touched, exactly as before issuers existed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

# A scoped key is this prefix and a SHA-256 in hex: 71 characters, within the 100 an id may
# have (domain.limits.MAX_ID_LENGTH), whatever the length of the subject or the command id.
SCOPED_KEY_PREFIX = "scoped:"


@dataclass(frozen=True, kw_only=True)
class Issuer:
    """The authenticated sender of a command; `customer_id` set means it may touch only that customer's orders."""

    subject: str
    customer_id: str | None = None


def command_key(command_id: str, issuer: Issuer | None) -> str:
    """The key a command is stored and recognised by: the client's id, scoped to the issuer's subject.

    Two subjects sending the same command id make two keys, so neither can replay (or block)
    the other's command; without an issuer the key is the command id itself.
    """
    if issuer is None:
        return command_id
    scope = json.dumps([issuer.subject, command_id])
    return SCOPED_KEY_PREFIX + hashlib.sha256(scope.encode()).hexdigest()


def may_touch(issuer: Issuer | None, customer_id: str | None) -> bool:
    """Whether the issuer may see or change an order of this customer."""
    return issuer is None or issuer.customer_id is None or issuer.customer_id == customer_id
