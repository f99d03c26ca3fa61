"""The bus's notices as frozen types, and their JSON on the wire (unchanged since dicts).

"Events appended", "projection advanced" and "stream parked" are facts a subscriber may
use; RESYNC says some may have been lost. A wire message that is not one of them decodes
to RESYNC: the subscriber re-reads the store, which is always safe.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

import orjson

from eventstore.tracing import well_formed

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class EventsAppended:
    """An append committed: the stream's new version and the positions it took."""

    stream_id: str
    version: int
    first_position: int
    position: int
    traceparent: str | None = None  # the append's trace context, with tracing on (eventstore/tracing.py)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProjectionAdvanced:
    """A projector committed the batch (from_position, position]; streams: the new version of each it touched."""

    name: str
    from_position: int
    position: int
    streams: Mapping[str, int]
    traceparent: str | None = None  # the batch's trace context, with tracing on (eventstore/tracing.py)


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamParked:
    """Projection `name` parked the stream at version (position): its later events wait until a retry or a skip."""

    name: str
    stream_id: str
    version: int
    position: int


@dataclass(frozen=True, slots=True)
class Resync:
    """Notices may have been lost: re-read the store."""


RESYNC = Resync()
Notice = EventsAppended | ProjectionAdvanced | StreamParked | Resync

_RESYNC_WIRE = b'{"resync":true}'
_NULL_TRACEPARENT = b',"traceparent":null}'


def encode(notice: Notice) -> bytes:
    """The notice's JSON: the dataclass fields in order, or {"resync": true}."""
    # orjson writes a dataclass's fields in declaration order: the same bytes as the dicts of
    # old, once the trailing traceparent is dropped when it is null (tracing off).
    if isinstance(notice, Resync):
        return _RESYNC_WIRE
    wire = orjson.dumps(notice)
    if isinstance(notice, StreamParked) or notice.traceparent is not None:
        return wire
    return wire[: -len(_NULL_TRACEPARENT)] + b"}"


def decode(data: bytes | str) -> Notice:
    """The notice a wire message holds; RESYNC (logged) for anything malformed."""
    try:
        return _parse(orjson.loads(data))
    except (ValueError, AttributeError, KeyError, TypeError):  # orjson.JSONDecodeError is a ValueError
        log.warning("a malformed bus message %r; telling subscribers to re-read", data[:200])
        return RESYNC


def _parse(fields: dict[str, object]) -> Notice:
    if fields.get("resync"):
        return RESYNC
    if "name" in fields and "stream_id" in fields:
        return StreamParked(
            name=_typed(fields["name"], str),
            stream_id=_typed(fields["stream_id"], str),
            version=_typed(fields["version"], int),
            position=_typed(fields["position"], int),
        )
    if "name" in fields:
        return ProjectionAdvanced(
            name=_typed(fields["name"], str),
            from_position=_typed(fields["from_position"], int),
            position=_typed(fields["position"], int),
            streams=_typed(fields.get("streams") or {}, dict),
            traceparent=well_formed(fields.get("traceparent")),
        )
    return EventsAppended(
        stream_id=_typed(fields["stream_id"], str),
        version=_typed(fields["version"], int),
        first_position=_typed(fields["first_position"], int),
        position=_typed(fields["position"], int),
        traceparent=well_formed(fields.get("traceparent")),
    )


def _typed(value: object, kind: type[T]) -> T:
    if type(value) is not kind:  # not isinstance: a bool is no position
        raise ValueError(f"expected {kind.__name__}, got {value!r}")
    return value
