"""The served schema's argument names come from strawberry's own converter, worked out once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from strawberry.schema.name_converter import NameConverter
from strawberry.types.arguments import StrawberryArgument

from resolvers.argument_names import RememberedArgumentNames
from resolvers.graphql_schema import build_schema
from resolvers.mutations import Mutation
from resolvers.queries import Query
from resolvers.subscriptions import Subscription


def _arguments() -> Iterator[StrawberryArgument]:
    for root in (Query, Mutation, Subscription):
        for field in root.__strawberry_definition__.fields:
            yield from field.arguments


ARGUMENTS = list(_arguments())


def test_the_schema_has_arguments_to_name() -> None:
    assert {"orderId", "input", "customerId"} <= {NameConverter().from_argument(a) for a in ARGUMENTS}


@pytest.mark.parametrize("argument", ARGUMENTS, ids=lambda argument: argument.python_name)
def test_each_name_is_strawberrys_first_time_and_after(argument: StrawberryArgument) -> None:
    converter = RememberedArgumentNames()
    expected = NameConverter().from_argument(argument)
    assert [converter.from_argument(argument) for _ in range(3)] == [expected] * 3


def test_a_known_argument_is_not_named_again(monkeypatch: pytest.MonkeyPatch) -> None:
    converter = RememberedArgumentNames()
    calls: list[str] = []
    real = NameConverter.apply_naming_config

    def counted(self: NameConverter, name: str) -> str:
        calls.append(name)
        return real(self, name)

    monkeypatch.setattr(NameConverter, "apply_naming_config", counted)
    argument = next(a for a in ARGUMENTS if a.graphql_name is None and "_" in (a.python_name or ""))
    for _ in range(5):
        converter.from_argument(argument)
    assert calls == [argument.python_name]


def test_another_argument_object_at_a_reused_address_is_named_afresh() -> None:
    converter = RememberedArgumentNames()
    first, second = [a for a in ARGUMENTS if a.graphql_name is None][:2]
    converter.from_argument(first)
    converter._names[id(second)] = (first, "stale")  # noqa: SLF001 - an address the collector gave to another object
    assert converter.from_argument(second) == NameConverter().from_argument(second)


def test_the_served_schema_uses_it() -> None:
    assert isinstance(build_schema().config.name_converter, RememberedArgumentNames)
