"""Settings read from the environment: the browser-facing switches and their clear errors."""

from __future__ import annotations

import pytest

from orderly.settings import Settings, SettingsError


def test_graphiql_introspection_and_cors_default_to_open_tools_and_same_origin_only() -> None:
    settings = Settings.from_mapping({})
    assert (settings.graphiql, settings.introspection, settings.cors_origins) == (True, True, ())


def test_the_switches_and_origins_are_read_from_the_environment() -> None:
    settings = Settings.from_mapping(
        {
            "ORDERLY_GRAPHIQL": "false",
            "ORDERLY_INTROSPECTION": "off",
            "ORDERLY_CORS_ORIGINS": "https://app.example.com, http://localhost:5173/",
        }
    )
    assert settings.graphiql is False
    assert settings.introspection is False
    assert settings.cors_origins == ("https://app.example.com", "http://localhost:5173")


@pytest.mark.parametrize("origins", ["*", "app.example.com", "https://app.example.com/path", "ftp://x"])
def test_an_origin_that_is_not_one_is_refused_with_the_variable_named(origins: str) -> None:
    with pytest.raises(SettingsError, match="ORDERLY_CORS_ORIGINS"):
        Settings.from_mapping({"ORDERLY_CORS_ORIGINS": origins})


def test_projection_retries_default_to_three_and_refuse_a_negative_count() -> None:
    assert Settings.from_mapping({}).projection_retries == 3
    assert Settings.from_mapping({"ORDERLY_PROJECTION_RETRIES": "0"}).projection_retries == 0
    for bad in ("-1", "some"):
        with pytest.raises(SettingsError, match="ORDERLY_PROJECTION_RETRIES"):
            Settings.from_mapping({"ORDERLY_PROJECTION_RETRIES": bad})


def test_projection_commits_default_to_not_waiting_for_the_flush_and_refuse_a_non_boolean() -> None:
    assert Settings.from_mapping({}).projection_synchronous_commit is False
    assert Settings.from_mapping({"ORDERLY_PROJECTION_SYNCHRONOUS_COMMIT": "on"}).projection_synchronous_commit is True
    with pytest.raises(SettingsError, match="ORDERLY_PROJECTION_SYNCHRONOUS_COMMIT"):
        Settings.from_mapping({"ORDERLY_PROJECTION_SYNCHRONOUS_COMMIT": "sometimes"})
