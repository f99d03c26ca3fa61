"""ORDERLY_PERSISTED_QUERIES*: APQ by default, the other modes by name, a clear error otherwise."""

from __future__ import annotations

import pytest

from orderly.persisted_queries import PersistedQueryMode
from orderly.settings import Settings, SettingsError


def test_apq_is_the_default() -> None:
    settings = Settings.from_mapping({}).persisted_queries
    assert settings.mode is PersistedQueryMode.APQ
    assert (settings.max_entries, settings.register_burst) == (10_000, 100)


@pytest.mark.parametrize(("raw", "mode"), [("off", "off"), (" AllowList ", "allowlist"), ("apq", "apq")])
def test_modes_by_name(raw: str, mode: str) -> None:
    assert Settings.from_mapping({"ORDERLY_PERSISTED_QUERIES": raw}).persisted_queries.mode == PersistedQueryMode(mode)


def test_bounds_are_read() -> None:
    settings = Settings.from_mapping(
        {
            "ORDERLY_PERSISTED_QUERIES_MAX": "0",
            "ORDERLY_PERSISTED_QUERIES_REGISTER_RATE": "0.5",
            "ORDERLY_PERSISTED_QUERIES_REGISTER_BURST": "7",
            "ORDERLY_PERSISTED_QUERIES_CACHE_BYTES": "4096",
        }
    ).persisted_queries
    assert (settings.max_entries, settings.register_rate, settings.register_burst, settings.cache_bytes) == (0, 0.5, 7, 4096)


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("ORDERLY_PERSISTED_QUERIES", "safelist"),
        ("ORDERLY_PERSISTED_QUERIES_MAX", "-1"),
        ("ORDERLY_PERSISTED_QUERIES_REGISTER_BURST", "0"),
    ],
)
def test_a_bad_value_is_a_clear_error(name: str, raw: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_mapping({name: raw})
