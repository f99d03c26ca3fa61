"""The MetaData every read-model table belongs to, and the column types they share."""

from __future__ import annotations

from sqlalchemy import MetaData

from eventstore.tables import NAME_LENGTH, UtcDateTime

metadata = MetaData()

# A status or state column (OrderStatus, ProjectionState) holds one of its enum's values.
STATUS_LENGTH = 16

__all__ = ["NAME_LENGTH", "STATUS_LENGTH", "UtcDateTime", "metadata"]
