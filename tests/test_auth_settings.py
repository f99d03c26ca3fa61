"""ORDERLY_AUTH_* settings: off by default, one key setting at most, strong secrets, safe JWK Set
URLs, and where `serve` may run with authentication off."""

from __future__ import annotations

import pytest

from orderly.auth.settings import AuthSettings, describe, open_serve_refusal
from orderly.settings import Settings, SettingsError

SECRET = "s" * 32


def test_authentication_is_off_without_a_key_setting() -> None:
    auth = Settings.from_mapping({}).auth
    assert not auth.enabled and not auth.off
    assert (auth.roles_claim, auth.customer_claim, auth.leeway) == ("roles", "sub", 5.0)


def test_every_setting_is_read_from_the_environment() -> None:
    auth = AuthSettings.from_mapping(
        {
            "ORDERLY_AUTH_JWT_SECRET": SECRET,
            "ORDERLY_AUTH_ISSUER": "https://id.example.com/",
            "ORDERLY_AUTH_AUDIENCE": "orderly",
            "ORDERLY_AUTH_ROLES_CLAIM": "scope",
            "ORDERLY_AUTH_CUSTOMER_CLAIM": "customer_id",
            "ORDERLY_AUTH_LEEWAY": "2",
            "ORDERLY_AUTH_JWKS_COOLDOWN": "10",
            "ORDERLY_AUTH": "on",
        }
    )
    assert auth.enabled and auth.jwt_secret == SECRET
    assert (auth.issuer, auth.audience, auth.roles_claim, auth.customer_claim) == (
        "https://id.example.com/", "orderly", "scope", "customer_id")
    assert (auth.leeway, auth.jwks_refresh_cooldown) == (2.0, 10.0)


def test_the_secret_never_appears_in_the_settings_repr() -> None:
    assert SECRET not in repr(AuthSettings(jwt_secret=SECRET))


@pytest.mark.parametrize(
    ("env", "match"),
    [
        ({"ORDERLY_AUTH_JWT_SECRET": SECRET, "ORDERLY_AUTH_JWKS": "/etc/jwks.json"}, "not both"),
        ({"ORDERLY_AUTH_JWT_SECRET": "short"}, "at least 32 bytes"),
        ({"ORDERLY_AUTH_JWKS": "http://id.example.com/jwks.json"}, "must be https"),
        ({"ORDERLY_AUTH": "off", "ORDERLY_AUTH_JWT_SECRET": SECRET}, "contradicts"),
        ({"ORDERLY_AUTH": "on"}, "needs ORDERLY_AUTH_JWT_SECRET"),
        ({"ORDERLY_AUTH": "maybe"}, "ORDERLY_AUTH='maybe'"),
        ({"ORDERLY_AUTH_JWT_SECRET": SECRET, "ORDERLY_AUTH_LEEWAY": "-1"}, "ORDERLY_AUTH_LEEWAY"),
    ],
)
def test_contradictory_or_weak_settings_are_clear_errors(env: dict[str, str], match: str) -> None:
    with pytest.raises(SettingsError, match=match):
        Settings.from_mapping(env)


@pytest.mark.parametrize("url", ["https://id.example.com/.well-known/jwks.json", "http://127.0.0.1:8080/jwks",
                                 "http://localhost/jwks", "http://[::1]:9000/jwks"])
def test_a_jwks_url_is_https_or_loopback_http(url: str) -> None:
    assert AuthSettings.from_mapping({"ORDERLY_AUTH_JWKS": url}).jwks == url


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2", "[::1]"])
def test_serving_open_on_a_loopback_host_is_allowed(host: str) -> None:
    assert open_serve_refusal(AuthSettings(), host) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "orders.example.com"])
def test_serving_open_elsewhere_is_refused_unless_auth_is_on_or_explicitly_off(host: str) -> None:
    refusal = open_serve_refusal(AuthSettings(), host)
    assert refusal is not None and "ORDERLY_AUTH=off" in refusal and host in refusal
    assert open_serve_refusal(AuthSettings(off=True), host) is None
    assert open_serve_refusal(AuthSettings(jwt_secret=SECRET), host) is None


def test_the_start_up_words_say_whether_authentication_is_on() -> None:
    assert "OFF" in describe(AuthSettings())
    assert describe(AuthSettings(jwt_secret=SECRET)) == "authentication: JWT, HS256 secret"
