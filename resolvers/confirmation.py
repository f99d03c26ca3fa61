"""The span of a subscription message that confirms a write became visible, linked to the batch that applied it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from eventstore import tracing


@contextmanager
def confirmation(field: str, projection: str, position: int) -> Iterator[None]:
    """Around a subscription's yield: with tracing on, a `subscription.message` span linked to the
    projector batch of `projection` that applied `position` (when its notice was seen here).

    The span is not made current: the yield hands control to strawberry, which sends the message
    and resumes (or closes) the generator, maybe from another context.
    """
    if not tracing.enabled():
        yield
        return
    attributes = {"graphql.field": field, "orderly.projection": projection, "orderly.position": position}
    message = tracing.start_span(f"subscription.message {field}", attributes, links=tracing.batch_link(projection, position))
    try:
        yield
    finally:
        tracing.end(message)
