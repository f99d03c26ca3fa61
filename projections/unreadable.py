"""Events a projection cannot read: every projector's plan refuses them, so parking takes their stream.

The log is read leniently (read_log): an event whose type or data this code cannot decode
comes back as an UnreadableEvent instead of failing the read, which would stall every
stream behind it. The runner wraps each projector's plan with refuse_unreadable, so a
batch holding one fails like any event a projector cannot apply: it is retried, then
parking finds it (bisecting by stream), parks its stream and the rest of the batch goes
on. Nothing is skipped silently: an operator's skip passes it (a passed event reaches the
plan and only moves its row's version), a retry after a deploy that reads it applies it.
"""

from __future__ import annotations

from collections.abc import Sequence

from domain.ports import RecordedEvent, UnreadableEvent, UnreadableEventError
from projections.changes import BatchChanges
from projections.projector import PASSED_TYPE, PlanBatch
from projections.read_models import KeyedRows


def refuse_unreadable(plan: PlanBatch) -> PlanBatch:
    """The plan, raising UnreadableEventError for a batch that holds an event this code cannot decode."""

    async def plan_readable(reader: KeyedRows, events: Sequence[RecordedEvent]) -> BatchChanges:
        for recorded in events:
            if isinstance(recorded.event, UnreadableEvent) and recorded.type_name != PASSED_TYPE:
                raise UnreadableEventError(recorded.event.reason)
        return await plan(reader, events)

    return plan_readable
