"""A root read field's resolver without strawberry's per-call scaffolding, for the direct reads.

strawberry's resolver for a field with extensions (`GraphQLCoreConverter.from_resolver`) does,
on every call: build a strawberry Info over graphql-core's; convert the arguments
(`convert_arguments` walks every declared argument's type); let each extension map them
(`map_arguments`: ValidInput's checks and canonical ids); build the chain of the extensions'
`resolve_async` around the resolver with `functools.partial`; await through `await_maybe`.

For a root field whose arguments are all leaves, optional or not (ID, String, Int, Boolean,
the schema's own scalars such as Position, enums; not GlobalID, which is decoded):
`convert_argument` hands a leaf's value back as it is
and whose field has no exception handlers, the chain does not depend on the call and is built
once; the per-call work is the Info, the renaming of the arguments, every extension's own
`map_arguments` and the chain with every extension's own `resolve_async` (Authorized's role
check included). Any other field keeps strawberry's resolver.

This reads strawberry's internals (pinned <0.342 in pyproject.toml);
tests/compiled/test_root_resolvers.py holds both resolvers to the same answers and errors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import strawberry
from graphql import GraphQLField, GraphQLResolveInfo
from strawberry.relay.types import GlobalID
from strawberry.scalars import is_scalar
from strawberry.types.arguments import StrawberryArgument
from strawberry.types.base import StrawberryMaybe, StrawberryOptional
from strawberry.types.enum import StrawberryEnumDefinition, has_enum_definition
from strawberry.types.field import StrawberryField
from strawberry.types.lazy_type import LazyType

# Leaf types: strawberry's convert_argument returns their value unchanged (whatever scalar implements them).
_PLAIN_TYPES = (str, int, bool, strawberry.ID)
# strawberry's one leaf it converts (GlobalID.from_id).
_CONVERTED_LEAVES = (GlobalID,)
_BACKREF = "strawberry-definition"


def root_resolver(schema: Any, field: GraphQLField) -> Callable[..., Any] | None:
    """A resolver doing what strawberry's does for this field, or None when the field is not of the plain shape."""
    strawberry_schema = getattr(schema, "_strawberry_schema", None)
    definition = (field.extensions or {}).get(_BACKREF)
    if strawberry_schema is None or not isinstance(definition, StrawberryField):
        return None
    converter = strawberry_schema.schema_converter
    base = definition.base_resolver
    if (
        base is None
        or not definition.is_async
        or definition.is_subscription
        or converter._get_field_exception_handlers(definition)
        or base.parent_parameter is not None
        or base.root_parameter is not None
        or base.info_parameter is None
        or not all(_plain(argument, converter.scalar_registry) for argument in definition.arguments)
    ):
        return None
    chained = [extension for extension in definition.extensions if extension.has_resolver]
    if any(not extension.supports_async for extension in chained):
        return None
    info_name = base.info_parameter.name
    with_self = base.self_parameter is not None

    def innermost(source: Any, info: Any, **kwargs: Any) -> Any:
        kwargs[info_name] = info
        return base(source, **kwargs) if with_self else base(**kwargs)

    chain: Callable[..., Any] = innermost
    for extension in chained:  # as strawberry's reduce: the first extension is the innermost
        chain = partial(extension.resolve_async, chain)
    mappers = tuple(definition.extensions)
    names = tuple(
        (strawberry_schema.config.name_converter.from_argument(argument), argument.python_name)
        for argument in definition.arguments
    )
    info_class = strawberry_schema.config.info_class

    async def resolve(source: Any, info: GraphQLResolveInfo, **given: Any) -> Any:
        strawberry_info = info_class(_raw_info=info, _field=definition)
        kwargs = {python_name: given[name] for name, python_name in names if name in given}
        for extension in mappers:
            kwargs = extension.map_arguments(kwargs)
        return await chain(source, strawberry_info, **kwargs)  # an async resolver, async extensions

    return resolve


def _plain(argument: StrawberryArgument, scalar_registry: Mapping[object, Any]) -> bool:
    type_ = argument.type
    if isinstance(type_, StrawberryMaybe):
        return False
    if isinstance(type_, StrawberryOptional):
        type_ = type_.of_type
    if any(type_ is plain for plain in _PLAIN_TYPES):
        return True
    if any(type_ is converted for converted in _CONVERTED_LEAVES) or isinstance(type_, LazyType):
        return False
    # convert_argument: an enum definition and a registered scalar are leaves; an enum class goes to its definition.
    return isinstance(type_, StrawberryEnumDefinition) or has_enum_definition(type_) or is_scalar(type_, scalar_registry)
