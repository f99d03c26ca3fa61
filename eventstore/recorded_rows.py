"""RecordedEvents for the log's rows without the dataclass constructor.

RecordedEvent is a frozen dataclass: its generated __init__ sets each of its twelve fields
through object.__setattr__, about 1.9 us an event, some 15 % of a projection's catch-up per
event. A log read makes tens of thousands of them a batch, so they are made here by setting
the instance's __dict__ in one step (1.0 us): the same object, field for field (the
dataclass's own __eq__ and repr see no difference), as long as RecordedEvent keeps no
__post_init__, no slots and no defaults this would skip. ONE_STEP says whether it does;
when it does not, the constructor is used (tests/eventstore/test_recorded_rows.py holds both
to the constructor).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from domain.ports import RecordedEvent

FIELDS = (
    "event_id", "stream_id", "stream_type", "version", "position", "type_name", "schema_version", "data",
    "occurred_at", "recorded_at", "command_id", "event",
)
ONE_STEP = (
    tuple(field.name for field in dataclasses.fields(RecordedEvent)) == FIELDS
    and not hasattr(RecordedEvent, "__post_init__")
    and not hasattr(RecordedEvent, "__slots__")
)

_new = object.__new__
_set = object.__setattr__


def recorded_event(
    event_id: str,
    stream_id: str,
    stream_type: str,
    version: int,
    position: int,
    type_name: str,
    schema_version: int,
    data: Any,
    occurred_at: Any,
    recorded_at: Any,
    command_id: str | None,
    event: Any,
) -> RecordedEvent:
    """RecordedEvent(...) with these fields, made in one step when ONE_STEP allows it."""
    fields = {
        "event_id": event_id,
        "stream_id": stream_id,
        "stream_type": stream_type,
        "version": version,
        "position": position,
        "type_name": type_name,
        "schema_version": schema_version,
        "data": data,
        "occurred_at": occurred_at,
        "recorded_at": recorded_at,
        "command_id": command_id,
        "event": event,
    }
    if not ONE_STEP:
        return RecordedEvent(**fields)
    recorded: RecordedEvent = _new(RecordedEvent)
    _set(recorded, "__dict__", fields)
    return recorded
