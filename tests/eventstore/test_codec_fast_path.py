"""The codec's msgspec fast path decodes exactly what its generic decoder decodes.

Both are run on generated events as the codec writes them, and on the same data broken at
random (a leaf replaced, a key dropped): the fast path must give the generic decoder's event,
or fall back to it and fail with its error. The two cases the codec's docstring names as
different (a JSON number for a Decimal, more than six digits of a second) are pinned apart.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.events import EVENT_TYPES, Event, OrderCancelled, OrderCreated, OrderItemAdded, OrderShipped
from domain.ports import UnreadableEvent
from domain.values import Address, LineItem
from eventstore import codec
from eventstore.codec import decode, decode_json_or_unreadable, decode_or_unreadable, encode
from eventstore.json_document import JsonDocument

texts = st.text(max_size=12)
moments = st.datetimes(
    min_value=datetime(1970, 1, 2),
    max_value=datetime(2200, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5, minutes=-30))]),
)
prices = st.decimals(min_value=Decimal("-1e9"), max_value=Decimal("1e9"), places=2, allow_nan=False)
items = st.builds(LineItem, product_id=texts, quantity=st.integers(-(2**40), 2**40), price=prices)
addresses = st.builds(Address, line1=texts, line2=st.none() | texts, city=texts, postal_code=texts, country=texts)
events: st.SearchStrategy[Event] = st.one_of(
    st.builds(
        OrderCreated,
        order_id=texts,
        customer_id=texts,
        items=st.lists(items, max_size=4).map(tuple),
        shipping_address=addresses,
        occurred_at=moments,
    ),
    st.builds(OrderItemAdded, order_id=texts, item=items, occurred_at=moments),
    st.builds(OrderShipped, order_id=texts, occurred_at=moments),
    st.builds(OrderCancelled, order_id=texts, reason=texts, occurred_at=moments),
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.text(max_size=8)
    | st.sampled_from(["1.5", "NaN", "2025-01-01T00:00:00+00:00", "2025-01-01", "x", ""]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)


def generic(type_name: str, data: dict[str, Any]) -> Any:
    """What the generic decoder alone makes of the data: the event, or the type of its error."""
    try:
        return codec._decoder(EVENT_TYPES[type_name])(copy.deepcopy(data))
    except Exception as error:
        return type(error)


def fast(type_name: str, data: dict[str, Any]) -> Any:
    """What decode (fast path first) makes of the data: the event, or the type of its error."""
    try:
        return decode(type_name, EVENT_TYPES[type_name].schema_version, copy.deepcopy(data))
    except Exception as error:
        return type(error)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document (keys and list indexes), the root excluded."""
    found = []
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        found.append((*prefix, key))
        found.extend(paths(child, (*prefix, key)))
    return found


def replaced(document: Any, path: tuple[Any, ...], value: Any, *, drop: bool) -> Any:
    document = copy.deepcopy(document)
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    if drop and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return document


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(events)
def test_an_event_as_the_codec_writes_it_decodes_to_itself_on_both_paths(event: Event) -> None:
    data = encode(event)
    assert fast(event.type_name, data) == event
    assert generic(event.type_name, data) == event


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(events, st.data(), json_values, st.booleans())
def test_broken_data_gets_the_generic_decoders_answer(event: Event, data: st.DataObject, value: Any, drop: bool) -> None:
    document = encode(event)
    path = data.draw(st.sampled_from(paths(document)))
    broken = replaced(document, path, value, drop=drop)
    assert fast(event.type_name, broken) == generic(event.type_name, broken)


def test_a_missing_optional_field_falls_back_and_reads_as_none() -> None:
    data = encode(
        OrderCreated(
            order_id="o",
            customer_id="c",
            items=(),
            occurred_at=datetime(2025, 1, 1, tzinfo=UTC),
            shipping_address=Address(line1="1", line2=None, city="c", postal_code="p", country="US"),
        )
    )
    del data["shipping_address"]["line2"]
    event = decode("order.created", 1, data)
    assert isinstance(event, OrderCreated) and event.shipping_address.line2 is None


def test_upcast_data_takes_the_fast_path_after_its_upcasters() -> None:
    event = decode("order.cancelled", 1, {"order_id": "o", "occurred_at": "2025-01-01T00:00:00+00:00"})
    assert event == OrderCancelled(
        order_id="o", reason="cancelled (no reason recorded)", occurred_at=datetime(2025, 1, 1, tzinfo=UTC)
    )


def test_what_neither_path_can_read_stays_unreadable_with_the_generic_reason() -> None:
    unreadable = decode_or_unreadable(
        "order.item_added",
        1,
        {
            "order_id": "o",
            "occurred_at": "2025-01-01T00:00:00+00:00",
            "item": {"product_id": "p", "quantity": 1, "price": "cheap"},
        },
    )
    assert not isinstance(unreadable, Event)
    assert unreadable.reason.startswith("InvalidOperation")


@pytest.mark.parametrize(
    ("leaf", "value", "fast_answer", "generic_answer"),
    [
        (("item", "price"), 0.1, Decimal("0.1"), Decimal(0.1)),
        (
            ("occurred_at",),
            "2025-01-01T00:00:00.1234567+00:00",
            datetime(2025, 1, 1, 0, 0, 0, 123457, tzinfo=UTC),
            datetime(2025, 1, 1, 0, 0, 0, 123456, tzinfo=UTC),
        ),
    ],
)
def test_the_two_documented_differences_on_data_the_codec_never_writes(
    leaf: tuple[str, ...], value: Any, fast_answer: Any, generic_answer: Any
) -> None:
    data = replaced(
        encode(
            OrderItemAdded(
                order_id="o",
                item=LineItem(product_id="p", quantity=1, price=Decimal(1)),
                occurred_at=datetime(2025, 1, 1, tzinfo=UTC),
            )
        ),
        leaf,
        value,
        drop=False,
    )
    fast_event, generic_event = fast("order.item_added", data), generic("order.item_added", data)
    pick = (lambda e: e.item.price) if leaf[0] == "item" else (lambda e: e.occurred_at)
    assert pick(fast_event) == fast_answer
    assert pick(generic_event) == generic_answer


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(events)
def test_an_event_decodes_straight_from_its_stored_text(event: Event) -> None:
    text = orjson.dumps(encode(event)).decode()
    assert decode_json_or_unreadable(event.type_name, event.schema_version, text) == event


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(events, st.data(), json_values, st.booleans())
def test_broken_text_reads_as_the_parsed_data_reads(event: Event, data: st.DataObject, value: Any, drop: bool) -> None:
    document = encode(event)
    broken = replaced(document, data.draw(st.sampled_from(paths(document))), value, drop=drop)
    from_text = decode_json_or_unreadable(event.type_name, event.schema_version, orjson.dumps(broken))
    assert from_text == decode_or_unreadable(event.type_name, event.schema_version, copy.deepcopy(broken))


def test_text_of_an_older_schema_or_an_unknown_type_takes_the_parsing_road() -> None:
    text = '{"order_id": "o", "occurred_at": "2025-01-01T00:00:00+00:00"}'
    assert decode_json_or_unreadable("order.cancelled", 1, text) == decode("order.cancelled", 1, orjson.loads(text))
    unknown = decode_json_or_unreadable("order.nope", 1, text)
    assert isinstance(unknown, UnreadableEvent) and unknown.reason.startswith("UnknownEventTypeError")


def test_a_json_document_reads_as_the_dict_it_holds_and_parses_only_when_read() -> None:
    document = JsonDocument('{"a": [1, 2], "b": null}')
    assert document == {"a": [1, 2], "b": None} and dict(document) == {"a": [1, 2], "b": None}
    assert (document["a"], len(document), list(document)) == ([1, 2], 2, ["a", "b"])
    broken = JsonDocument("{not json")  # nothing parsed yet, so nothing raised
    with pytest.raises(orjson.JSONDecodeError):
        broken["a"]
