"""The one walk every argument takes: strings checked, ids in canonical form, paths in messages."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from domain.errors import InvalidInputError
from domain.limits import MAX_ID_LENGTH
from resolvers.graphql_schema import build_schema
from resolvers.input_values import ValidInput, canonical, graphql_name, is_uuid, order_id
from schema.inputs import AddressInput, CreateOrderInput, OrderFilter, OrderItemInput

LOWER = "0f8fad5b-d9cb-469f-a165-70867728950e"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (LOWER, LOWER),
        (LOWER.upper(), LOWER),
        ("0F8FAD5B-d9cb-469F-A165-70867728950E", LOWER),
        # not UUID-shaped: kept as given (no order has such an id: reads find nothing)
        ("nope", "nope"),
        ("ORDER-1", "ORDER-1"),
        ("{" + LOWER.upper() + "}", "{" + LOWER.upper() + "}"),
        (LOWER.replace("-", "").upper(), LOWER.replace("-", "").upper()),
        ("x" * MAX_ID_LENGTH, "x" * MAX_ID_LENGTH),
    ],
)
def test_an_order_id_has_one_canonical_spelling(given: str, expected: str) -> None:
    assert order_id("orderId", given) == expected


@pytest.mark.parametrize(
    "given",
    ["", "   ", "x" * (MAX_ID_LENGTH + 1), "x\u0000y", "\u0000", "x\ud800", "\udfff", LOWER + "\u0000"],
    ids=repr,
)
def test_a_bad_order_id_is_refused(given: str) -> None:
    with pytest.raises(InvalidInputError):
        order_id("orderId", given)


@pytest.mark.parametrize(
    ("given", "uuid"),
    [
        (LOWER, True),
        (LOWER.upper(), True),
        ("\u0660" * 8 + LOWER[8:], False),  # Arabic-Indic zeros
        ("\uff10" * 8 + LOWER[8:], False),  # full-width zeros
        ("1_2d5b00" + LOWER[8:], False),
        (LOWER.replace("-", ""), False),
        ("{" + LOWER + "}", False),
        ("urn:uuid:" + LOWER, False),
        (LOWER + "\n", False),
        (" " + LOWER, False),
    ],
    ids=repr,
)
def test_only_the_hyphenated_ascii_spelling_is_a_uuid(given: str, uuid: bool) -> None:
    assert is_uuid(given) is uuid


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("order_id", LOWER.upper(), LOWER),
        ("customer_id", "Cust-1", "Cust-1"),  # other ids are case-sensitive, kept as given
        ("product_id", "P-1", "P-1"),
        ("command_id", "Key-1", "Key-1"),
        ("query", "  two  words ", "  two  words "),
        ("reason", "😀 fine", "😀 fine"),  # a surrogate pair is a real character
        ("name", "order_views", "order_views"),
        ("page", 3, 3),
        ("min_total", Decimal("1.50"), Decimal("1.50")),
        ("status", None, None),
    ],
)
def test_good_arguments_come_back_canonical(name: str, value: Any, expected: Any) -> None:
    assert canonical(graphql_name(name), name, value) == expected


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("query", "a\u0000b", "query must not contain a NUL character"),
        ("reason", "a\ud800b", "reason must not contain an unpaired surrogate"),
        ("name", "\udc00", "name must not contain an unpaired surrogate"),
        ("customer_id", "", "customerId must not be empty"),
        ("customer_id", " ", "customerId must not be empty"),
        ("command_id", "k" * (MAX_ID_LENGTH + 1), f"commandId is longer than {MAX_ID_LENGTH} characters"),
        ("product_id", "p\u0000", "productId must not contain a NUL character"),
    ],
)
def test_bad_arguments_are_refused_with_their_name(name: str, value: Any, message: str) -> None:
    with pytest.raises(InvalidInputError) as error:
        canonical(graphql_name(name), name, value)
    assert str(error.value) == message


def _create_input(**changes: Any) -> CreateOrderInput:
    address = AddressInput(line1="1 Main St", city="Springfield", postal_code="12345", country="US")
    values: dict[str, Any] = {
        "order_id": LOWER.upper(),
        "customer_id": "c-1",
        "items": [OrderItemInput(product_id="p-1", quantity=1, price=Decimal("1"))],
        "shipping_address": address,
    }
    values.update(changes)
    return CreateOrderInput(**values)


def test_input_objects_and_lists_are_walked_and_canonicalised_in_place() -> None:
    arguments = ValidInput().map_arguments({"input": _create_input()})
    assert arguments["input"].order_id == LOWER
    assert arguments["input"].items[0].product_id == "p-1"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"customer_id": "c\u0000"}, "input.customerId must not contain a NUL character"),
        (
            {"items": [OrderItemInput(product_id="p", quantity=1, price=Decimal("1")),
                       OrderItemInput(product_id="p\ud800", quantity=1, price=Decimal("1"))]},
            "input.items[1].productId must not contain an unpaired surrogate",
        ),
        (
            {"shipping_address": AddressInput(line1="x", line2="\u0000", city="c", postal_code="1", country="US")},
            "input.shippingAddress.line2 must not contain a NUL character",
        ),
        (
            {"shipping_address": AddressInput(line1="x", city="c", postal_code="1\u0000", country="US")},
            "input.shippingAddress.postalCode must not contain a NUL character",
        ),
        ({"command_id": ""}, "input.commandId must not be empty"),
    ],
)
def test_a_bad_value_deep_in_an_input_names_its_path(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError) as error:
        ValidInput().map_arguments({"input": _create_input(**changes)})
    assert str(error.value) == message


def test_a_filter_is_walked_too() -> None:
    with pytest.raises(InvalidInputError, match="filter.customerId must not contain a NUL"):
        ValidInput().map_arguments({"filter": OrderFilter(customer_id="c\u0000")})


def test_every_root_field_validates_its_input() -> None:
    schema = build_schema()
    for root in (schema.query, schema.mutation, schema.subscription):
        for field in root.__strawberry_definition__.fields:  # type: ignore[union-attr]
            assert any(isinstance(extension, ValidInput) for extension in field.extensions), field.name
