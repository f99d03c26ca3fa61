"""Stored event data kept as its JSON text, parsed only when someone reads it as a mapping.

The projections' log reads decode each event straight from the text (eventstore/codec.py,
decode_json_or_unreadable) and never look at its data; parsing every document into a dict
anyway cost about a quarter of what decoding the event costs, for nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import orjson


class JsonDocument(Mapping[str, Any]):
    """A read-only mapping over JSON text, parsed on first access (equal to the dict it holds)."""

    __slots__ = ("_parsed", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._parsed: dict[str, Any] | None = None

    def _data(self) -> dict[str, Any]:
        if self._parsed is None:
            self._parsed = orjson.loads(self.text)
        return self._parsed

    def __getitem__(self, key: str) -> Any:
        return self._data()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data())

    def __len__(self) -> int:
        return len(self._data())

    def __repr__(self) -> str:
        return f"JsonDocument({self.text!r})"
