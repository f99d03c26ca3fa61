"""OpenTelemetry spans at the operation level, and the trace contexts the bus carries between processes.

Off (the default) this module imports nothing of OpenTelemetry and each hook is one test of
a module global: `span` hands out a shared null context, `traceparent` returns None. The
composition root turns it on (orderly/tracing_setup.py) by installing a tracer.

One write is followed by four spans: the GraphQL operation, its append (a child), the
projector batch that applied the append, and the subscription message that confirmed it.
The last two live in other tasks, often other processes, so they are LINKED, not parented:
the append's context travels in its EventsAppended notice, the batch's in ProjectionAdvanced
(`traceparent`, W3C form). A projector process's tap (trace_tap.py) and the API's tracker hand
the notices they receive (and the publisher its own appends) to `saw_append` / `saw_batch`,
which remember the recent ones by position; the batch span links to the appends inside
(from, to], a subscription message to the batch that applied its position. The bus is a
doorbell, so a lost notice (or one that arrives after the batch was read) loses a link, never
an event. A column in the events table would carry the context without loss, at the price of
a migration and a wider row on every append whether tracing is on or not.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

RECENT = 4096  # notices remembered per kind (and per projection), for links
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_NULL: AbstractContextManager[Any] = nullcontext()

_tracer: Any = None  # an opentelemetry Tracer once installed
_appends: deque[tuple[int, int, str]] = deque(maxlen=RECENT)  # (first, last position, traceparent)
_batches: dict[str, deque[tuple[int, int, str]]] = {}  # per projection: (from, to position, traceparent)


def install(tracer: Any) -> None:
    """Turn tracing on with an OpenTelemetry tracer (None turns it off again)."""
    global _tracer
    _tracer = tracer
    _appends.clear()
    _batches.clear()


def enabled() -> bool:
    """Whether a tracer is installed."""
    return _tracer is not None


def span(
    name: str, attributes: Mapping[str, Any] | None = None, links: Sequence[str] = (), parent: str | None = None
) -> AbstractContextManager[Any]:
    """A span made current for the block, linked to the traceparents given (a child of `parent`, a
    caller's traceparent, when well-formed; else of the current span); a null context when off."""
    if _tracer is None:
        return _NULL
    return _current_span(name, attributes, links, parent)


@contextmanager
def _current_span(name: str, attributes: Mapping[str, Any] | None, links: Sequence[str], parent: str | None) -> Iterator[Any]:
    from opentelemetry import context as otel_context
    from opentelemetry import trace

    remote = _span_context(parent) if parent is not None else None
    context = None if remote is None else trace.set_span_in_context(trace.NonRecordingSpan(remote))
    started = _tracer.start_span(name, context=context, attributes=dict(attributes or {}), links=_links(links))
    token = otel_context.attach(trace.set_span_in_context(started))
    try:
        yield started
    except BaseException as error:
        started.record_exception(error)
        started.set_status(trace.Status(trace.StatusCode.ERROR, type(error).__name__))
        raise
    finally:
        started.end()
        try:
            otel_context.detach(token)
        except ValueError:
            pass  # ended from another context (an abandoned generator finalised elsewhere)


def start_span(name: str, attributes: Mapping[str, Any] | None = None, links: Sequence[str] = ()) -> Any:
    """A span that is not made current (the caller ends it with `end`); None when off."""
    if _tracer is None:
        return None
    return _tracer.start_span(name, attributes=dict(attributes or {}), links=_links(links))


def end(started: Any) -> None:
    """End a span from `start_span` (None: nothing)."""
    if started is not None:
        started.end()


def traceparent() -> str | None:
    """The current span's context in W3C traceparent form, None when off or outside a span."""
    if _tracer is None:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def well_formed(value: object) -> str | None:
    """The value when it is a traceparent this module writes, else None (a bad one loses a link only)."""
    return value if isinstance(value, str) and _TRACEPARENT.fullmatch(value) else None


def saw_append(first_position: int, position: int, context: str | None) -> None:
    """Remember an append's context by its positions (from an EventsAppended notice)."""
    if _tracer is not None and context is not None:
        _appends.append((first_position, position, context))


def append_links(from_position: int, to_position: int) -> list[str]:
    """The contexts of the remembered appends inside (from_position, to_position]."""
    inside = (context for first, last, context in _appends if from_position < first and last <= to_position)
    return list(dict.fromkeys(inside))  # an append seen twice (published here, then heard back) links once


def saw_batch(name: str, from_position: int, position: int, context: str | None) -> None:
    """Remember a projector batch's context by its positions (from a ProjectionAdvanced notice)."""
    if _tracer is not None and context is not None:
        _batches.setdefault(name, deque(maxlen=RECENT)).append((from_position, position, context))


def batch_link(name: str, position: int) -> list[str]:
    """The context of the remembered batch of projection `name` that applied `position` (none or one)."""
    for from_position, to_position, context in reversed(_batches.get(name, ())):
        if from_position < position <= to_position:
            return [context]
    return []


def _links(traceparents: Sequence[str]) -> list[Any]:
    from opentelemetry import trace

    contexts = (_span_context(value) for value in traceparents)
    return [trace.Link(context) for context in contexts if context is not None]


def _span_context(traceparent: str) -> Any:
    from opentelemetry import trace

    match = _TRACEPARENT.fullmatch(traceparent)
    if match is None:
        return None
    trace_id, span_id, flags = (int(part, 16) for part in match.groups())
    if trace_id == 0 or span_id == 0:  # W3C: all zeros is invalid
        return None
    return trace.SpanContext(trace_id, span_id, is_remote=True, trace_flags=trace.TraceFlags(flags))
