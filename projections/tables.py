"""The MetaData every read-model table belongs to, and the column types they share."""

from __future__ import annotations

from sqlalchemy import MetaData

from eventstore.tables import UtcDateTime

metadata = MetaData()

# Ids are at most domain.limits.MAX_ID_LENGTH characters, as in the event store.
ID_LENGTH = 100

__all__ = ["ID_LENGTH", "UtcDateTime", "metadata"]
