"""strawberry's name converter, with each argument's GraphQL name worked out once.

strawberry's `convert_arguments` asks the converter for every argument's GraphQL name on every
resolver call, and the stock converter camel-cases the Python name each time (a few per cent of
an order read). Arguments are schema objects that live as long as the schema, so the name is
remembered per argument object; the stock converter still decides it (and every other name).
"""

from __future__ import annotations

from strawberry.schema.name_converter import NameConverter
from strawberry.types.arguments import StrawberryArgument

# Arguments belong to the schema, so this never fills; the bound only guards against a library
# change that would make a new argument object per call.
MAX_REMEMBERED = 4096


class RememberedArgumentNames(NameConverter):
    def __init__(self) -> None:
        super().__init__()
        self._names: dict[int, tuple[StrawberryArgument, str]] = {}

    def from_argument(self, argument: StrawberryArgument) -> str:
        known = self._names.get(id(argument))
        if known is not None and known[0] is argument:
            return known[1]
        name = super().from_argument(argument)
        if len(self._names) >= MAX_REMEMBERED:
            self._names.clear()
        self._names[id(argument)] = (argument, name)
        return name
