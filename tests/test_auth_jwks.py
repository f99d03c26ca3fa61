"""JWK Sets: RS256, ES256 and EdDSA keys from a file read once, or from a URL cached and fetched
again (once, after a cooldown) when a token names a kid the cached set lacks."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import jwt
import pytest

from orderly.auth.authenticator import Authenticator
from orderly.auth.settings import AuthSettings
from orderly.setting_values import SettingsError
from schema.errors import UnauthenticatedError
from schema.principal import Role
from tests.support.jwt_keys import claims, ec_key, ed25519_key, jwk_set, jwks_server, rsa_key
from tests.test_auth_tokens import refusal


@pytest.fixture(scope="module")
def keys() -> dict[str, Any]:
    return {"rsa": rsa_key("rsa-1"), "ec": ec_key("ec-1"), "ed": ed25519_key("ed-1"), "rsa2": rsa_key("rsa-2")}


def jwks_file(tmp_path: Path, *signing_keys: Any) -> str:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwk_set(*signing_keys)))
    return str(path)


@pytest.mark.parametrize("kind", ["rsa", "ec", "ed"])
async def test_a_jwks_file_verifies_rs256_es256_and_eddsa(tmp_path: Path, keys: dict[str, Any], kind: str) -> None:
    auth = Authenticator(AuthSettings(jwks=jwks_file(tmp_path, keys["rsa"], keys["ec"], keys["ed"])))
    principal = await auth.from_header(f"Bearer {keys[kind].sign(claims('bob', roles=['staff']))}")
    assert (principal.subject, principal.roles) == ("bob", {Role.STAFF})


async def test_a_jwks_file_refuses_an_unknown_kid_a_foreign_key_and_a_swapped_algorithm(
    tmp_path: Path, keys: dict[str, Any]
) -> None:
    auth = Authenticator(AuthSettings(jwks=jwks_file(tmp_path, keys["rsa"], keys["ec"])))
    assert await refusal(auth, keys["rsa2"].sign(claims())) == "The token's signing key is not known"
    impostor = rsa_key("rsa-1")  # the right kid, another key
    assert await refusal(auth, impostor.sign(claims())) == "The token's signature is not valid"
    # The EC key's kid on an RS256 token: the key fixes the algorithm, the token cannot choose.
    swapped = keys["rsa"].sign(claims(), kid="ec-1")
    assert await refusal(auth, swapped) == "The token's algorithm is not accepted"


async def test_hs256_signed_with_the_public_key_is_refused_by_a_jwks(tmp_path: Path, keys: dict[str, Any]) -> None:
    # The classic confusion: the RSA public key's PEM used as an HMAC secret.
    from cryptography.hazmat.primitives import serialization

    pem = keys["rsa"].private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    def b64(data: bytes) -> str:
        return jwt.utils.base64url_encode(data).decode()

    signing_input = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}).encode()) + "." + b64(
        json.dumps(claims(roles=["admin"])).encode())
    forged = f"{signing_input}.{b64(hmac.new(pem, signing_input.encode(), hashlib.sha256).digest())}"
    auth = Authenticator(AuthSettings(jwks=jwks_file(tmp_path, keys["rsa"])))
    assert await refusal(auth, forged) == "The token's algorithm is not accepted"


async def test_a_single_key_set_needs_no_kid(tmp_path: Path, keys: dict[str, Any]) -> None:
    auth = Authenticator(AuthSettings(jwks=jwks_file(tmp_path, keys["ec"])))
    assert (await auth.from_header(f"Bearer {keys['ec'].sign(claims(), kid=None)}")).subject == "alice"


def test_an_unreadable_or_empty_jwks_file_is_a_settings_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="ORDERLY_AUTH_JWKS"):
        Authenticator(AuthSettings(jwks=str(tmp_path / "missing.json")))
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "s"}]}))
    with pytest.raises(SettingsError, match="ORDERLY_AUTH_JWKS"):
        Authenticator(AuthSettings(jwks=str(empty)))


async def test_a_jwks_url_is_fetched_once_then_served_from_its_cache(keys: dict[str, Any]) -> None:
    with jwks_server(keys["rsa"]) as server:
        auth = Authenticator(AuthSettings(jwks=server.url))
        for subject in ("a", "b", "c"):
            assert (await auth.from_header(f"Bearer {keys['rsa'].sign(claims(subject))}")).subject == subject
        assert server.fetches == 1


async def test_a_jwks_url_is_fetched_again_once_for_an_unknown_kid_a_rotation(keys: dict[str, Any]) -> None:
    with jwks_server(keys["rsa"]) as server:
        auth = Authenticator(AuthSettings(jwks=server.url, jwks_refresh_cooldown=0))
        assert (await auth.from_header(f"Bearer {keys['rsa'].sign(claims())}")).subject == "alice"
        server.rotate(keys["rsa"], keys["rsa2"])
        assert (await auth.from_header(f"Bearer {keys['rsa2'].sign(claims('new'))}")).subject == "new"
        assert server.fetches == 2
        assert await refusal(auth, rsa_key("nobody").sign(claims())) == "The token's signing key is not known"
        assert server.fetches == 3  # one refetch per unknown kid, not more


async def test_the_refetch_cooldown_stops_random_kids_from_hammering_the_key_server(keys: dict[str, Any]) -> None:
    with jwks_server(keys["rsa"]) as server:
        auth = Authenticator(AuthSettings(jwks=server.url, jwks_refresh_cooldown=30))
        await auth.from_header(f"Bearer {keys['rsa'].sign(claims())}")
        for number in range(5):
            assert await refusal(auth, keys["rsa"].sign(claims(), kid=f"random-{number}")) == (
                "The token's signing key is not known"
            )
        assert server.fetches == 1


async def test_a_jwks_url_token_must_name_its_kid(keys: dict[str, Any]) -> None:
    with jwks_server(keys["rsa"]) as server:
        auth = Authenticator(AuthSettings(jwks=server.url))
        assert await refusal(auth, keys["rsa"].sign(claims(), kid=None)) == "The token must name its signing key (kid)"
        assert server.fetches == 0


async def test_an_unreachable_jwks_url_refuses_without_its_error_text() -> None:
    auth = Authenticator(AuthSettings(jwks="http://127.0.0.1:9/jwks.json"))
    with pytest.raises(UnauthenticatedError) as caught:
        await auth.from_header(f"Bearer {rsa_key('k').sign(claims())}")
    assert str(caught.value) == "The token cannot be verified now: the signing keys are unavailable"
