"""What a projector batch shows of itself: its position in the log lines, its span in a trace."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from domain.ports import RecordedEvent
from eventstore import log_context, tracing


@contextmanager
def batch_scope(name: str, from_position: int, events: Sequence[RecordedEvent]) -> Iterator[None]:
    """Log lines of the batch carry its last position; with tracing on, a `projection.batch` span
    linked to the appends (remembered from their notices) that the batch applies."""
    to_position = events[-1].position
    log_context.annotate(position=to_position)
    if not tracing.enabled():
        yield
        return
    attributes = {
        "orderly.projection": name,
        "orderly.from_position": from_position,
        "orderly.position": to_position,
        "orderly.events": len(events),
    }
    with tracing.span("projection.batch", attributes, links=tracing.append_links(from_position, to_position)):
        yield
