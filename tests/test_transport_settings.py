"""ORDERLY_LIMIT_* transport settings: defaults, every variable read, bad values refused by name."""

from __future__ import annotations

import pytest

from orderly.limit_settings import TransportLimits
from orderly.settings import Settings, SettingsError

ENV = {
    "ORDERLY_LIMIT_BODY_BYTES": "2048",
    "ORDERLY_LIMIT_HEADER_BYTES": "4096",
    "ORDERLY_LIMIT_HEADER_COUNT": "20",
    "ORDERLY_LIMIT_HEADER_TIMEOUT": "2.5",
    "ORDERLY_LIMIT_BODY_TIMEOUT": "3",
    "ORDERLY_LIMIT_WS_INIT_TIMEOUT": "1.5",
    "ORDERLY_LIMIT_WS_CONNECTIONS": "7",
    "ORDERLY_LIMIT_WS_SUBSCRIPTIONS": "8",
    "ORDERLY_LIMIT_WS_SUBSCRIPTIONS_PER_PRINCIPAL": "9",
    "ORDERLY_LIMIT_STATEMENT_TIMEOUT": "0.5",
    "ORDERLY_LIMIT_RATE": "12.5",
    "ORDERLY_LIMIT_RATE_BURST": "30",
    "ORDERLY_LIMIT_RATE_LEASE": "4",
}


def test_every_transport_limit_is_read_from_the_environment() -> None:
    assert Settings.from_mapping(ENV).transport_limits == TransportLimits(
        body_bytes=2048, header_bytes=4096, header_count=20, header_timeout=2.5, body_timeout=3.0,
        ws_init_timeout=1.5, ws_connections=7, ws_subscriptions=8, ws_subscriptions_per_principal=9,
        statement_timeout=0.5, rate=12.5, rate_burst=30, rate_lease=4,
    )


def test_the_defaults_are_on() -> None:
    limits = Settings.from_mapping({}).transport_limits
    assert limits == TransportLimits()
    assert limits.body_bytes == 1024 * 1024 and limits.rate == 500.0 and limits.ws_subscriptions == 100


@pytest.mark.parametrize("name", sorted(ENV))
@pytest.mark.parametrize("value", ["0", "-1", "many"])
def test_a_limit_must_be_positive(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_mapping({name: value})
