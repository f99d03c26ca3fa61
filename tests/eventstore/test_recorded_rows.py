"""RecordedEvents made in one step (eventstore/recorded_rows.py) are the constructor's, field for field."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.events import OrderShipped
from domain.ports import RecordedEvent, UnreadableEvent
from eventstore import recorded_rows
from eventstore.json_document import JsonDocument
from eventstore.recorded_rows import FIELDS, ONE_STEP, recorded_event

moments = st.datetimes(timezones=st.just(UTC))
fields = st.fixed_dictionaries(
    {
        "event_id": st.uuids().map(str),
        "stream_id": st.text(min_size=1, max_size=20),
        "stream_type": st.sampled_from(["order", "other"]),
        "version": st.integers(1, 10**6),
        "position": st.integers(1, 2**62),
        "type_name": st.sampled_from(["order.shipped", "order.unknown"]),
        "schema_version": st.integers(1, 3),
        "data": st.just(JsonDocument('{"order_id": "o-1"}')),
        "occurred_at": moments,
        "recorded_at": moments,
        "command_id": st.none() | st.uuids().map(str),
        "event": st.builds(OrderShipped, order_id=st.text(max_size=8), occurred_at=moments)
        | st.builds(UnreadableEvent, type_name=st.just("x"), schema_version=st.just(1), reason=st.text(max_size=8)),
    }
)


def test_the_one_step_path_is_the_one_in_use() -> None:
    assert ONE_STEP
    assert FIELDS == tuple(field.name for field in dataclasses.fields(RecordedEvent))


@given(fields)
def test_a_recorded_event_made_in_one_step_equals_the_constructor_s(values: dict[str, object]) -> None:
    made = recorded_event(*(values[name] for name in FIELDS))
    built = RecordedEvent(**values)  # type: ignore[arg-type]
    assert type(made) is RecordedEvent
    assert made == built
    assert repr(made) == repr(built)
    assert hash(made.event_id) == hash(built.event_id)
    assert dataclasses.asdict(made).keys() == dataclasses.asdict(built).keys()
    assert {name: getattr(made, name) for name in FIELDS} == values


def test_it_stays_frozen() -> None:
    now = datetime.now(UTC)
    shipped = OrderShipped(order_id="o", occurred_at=now)
    made = recorded_event("e", "s", "order", 1, 1, "order.shipped", 1, {}, now, now, None, shipped)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.version = 2  # type: ignore[misc]
    assert made.decoded() == shipped


def test_without_one_step_the_constructor_makes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, object]] = []

    class Spy(RecordedEvent):
        def __init__(self, **values: object) -> None:
            calls.append(values)
            super().__init__(**values)  # type: ignore[arg-type]

    monkeypatch.setattr(recorded_rows, "ONE_STEP", False)
    monkeypatch.setattr(recorded_rows, "RecordedEvent", Spy)
    now = datetime.now(UTC)
    made = recorded_event("e", "s", "order", 1, 1, "t", 1, {}, now, now, None, None)
    assert type(made) is Spy
    assert list(calls[0]) == list(FIELDS)
