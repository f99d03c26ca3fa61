"""Building dataclass instances from fields already checked, without calling their __init__.

A page of orders builds hundreds of small views per request, and a frozen dataclass's
__init__ sets each field through object.__setattr__ (about 3.5 us for a four-field line
item here). `filled` writes the instance's __dict__ at once instead: the same object, equal
and alike in every field, provided the caller passes exactly the __init__ parameters (the
dataclass has no __post_init__ and no slots; tests/projections/test_filled.py holds the
views built with it to that).
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, TypeVar

T = TypeVar("T")


def filled(cls: type[T], fields: dict[str, Any]) -> T:
    """An instance of the (slot-less, __post_init__-less) dataclass cls whose attributes are fields."""
    instance = object.__new__(cls)
    instance.__dict__.update(fields)
    return instance


def copies_fields(target: type, source: type) -> bool:
    """Whether `filled(target, dict(source_instance.__dict__))` builds what target's __init__ would.

    True when target is a slot-less, __post_init__-less class whose __init__ takes exactly
    source's dataclass fields. A caller checks once, at import, and falls back to the
    constructor when either class changes shape.
    """
    if not dataclasses.is_dataclass(source) or "__slots__" in target.__dict__ or hasattr(target, "__post_init__"):
        return False
    parameters = inspect.signature(target).parameters.values()
    if any(parameter.kind is not inspect.Parameter.KEYWORD_ONLY for parameter in parameters):
        return False
    return {parameter.name for parameter in parameters} == {field.name for field in dataclasses.fields(source)}
