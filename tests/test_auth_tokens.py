"""Token verification as a unit, with an HS256 secret: what PyJWT is asked to check, every refusal
as a short UNAUTHENTICATED message of ours, the claims a Principal is read from, and the Bearer
header and connection_init payload around the token (JWK Sets: tests/test_auth_jwks.py)."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest

from orderly.auth.authenticator import Authenticator
from orderly.auth.settings import AuthSettings
from orderly.auth.tokens import issue_token
from schema.errors import UnauthenticatedError
from schema.principal import OPEN, Principal, Role
from tests.support.jwt_keys import SECRET, claims

OUR_MESSAGES = (
    "The token has expired",
    "The token is not valid yet",
    "The token's issuer is not accepted",
    "The token's audience is not accepted",
    "The token lacks a required claim (exp, nbf and sub)",
    "The token's signature is not valid",
    "The token's algorithm is not accepted",
    "The token is malformed",
    "The token's signing key is not known",
    "The token must name its signing key (kid)",
)


def secret_auth(**changes: Any) -> Authenticator:
    return Authenticator(AuthSettings(jwt_secret=SECRET, **changes))


async def refusal(auth: Authenticator, token: str) -> str:
    with pytest.raises(UnauthenticatedError) as caught:
        await auth.from_header(f"Bearer {token}")
    message = str(caught.value)
    assert message in OUR_MESSAGES, message  # never PyJWT's own text
    return message


async def test_a_valid_hs256_token_proves_its_subject_roles_customer_and_expiry() -> None:
    token = issue_token(SECRET, subject="alice", roles=["customer", "staff"], ttl=600)
    principal = await secret_auth().from_header(f"Bearer {token}")
    assert principal.subject == "alice" and principal.authenticated
    assert principal.roles == {Role.CUSTOMER, Role.STAFF}
    assert principal.customer_id == "alice"  # ORDERLY_AUTH_CUSTOMER_CLAIM defaults to sub
    assert principal.expires_at is not None
    assert abs(principal.expires_at.timestamp() - (time.time() + 600)) < 5


async def test_roles_may_be_a_space_separated_string_in_a_named_claim_and_unknown_roles_are_ignored() -> None:
    token = jwt.encode(claims(roles=None, scope="staff reader admin"), SECRET, algorithm="HS256")
    principal = await secret_auth(roles_claim="scope").from_header(f"Bearer {token}")
    assert principal.roles == {Role.STAFF, Role.ADMIN}


async def test_a_token_with_no_role_we_know_has_no_role() -> None:
    token = jwt.encode(claims(roles=["reader"]), SECRET, algorithm="HS256")
    assert (await secret_auth().from_header(f"Bearer {token}")).roles == frozenset()


async def test_the_customer_id_comes_from_the_configured_claim() -> None:
    token = issue_token(SECRET, subject="u-1", roles=["customer"], ttl=60, customer_id="cust-9", customer_claim="cid")
    assert (await secret_auth(customer_claim="cid").from_header(f"Bearer {token}")).customer_id == "cust-9"
    assert (await secret_auth(customer_claim="other").from_header(f"Bearer {token}")).customer_id is None


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "Authentication required: send Authorization: Bearer <token>"),
        ("", "Authentication required: send Authorization: Bearer <token>"),
        ("Basic YWxpY2U6cGFzcw==", "The Authorization header must be: Bearer <token>"),
        ("Bearer", "The Authorization header must be: Bearer <token>"),
        ("Bearer a b", "The Authorization header must be: Bearer <token>"),
    ],
)
async def test_a_missing_or_non_bearer_header_is_refused(header: str | None, message: str) -> None:
    with pytest.raises(UnauthenticatedError, match="^" + message.replace("<", ".").replace(">", ".") + "$"):
        await secret_auth().from_header(header)


async def test_the_bearer_scheme_is_case_insensitive() -> None:
    token = issue_token(SECRET, subject="alice", roles=["staff"], ttl=60)
    assert (await secret_auth().from_header(f"bearer  {token} ")).subject == "alice"


@pytest.mark.parametrize("token", ["not-a-token", "a.b.c", "eyJhbGciOiJIUzI1NiJ9..", ""])
async def test_malformed_tokens_are_refused(token: str) -> None:
    auth = secret_auth()
    with pytest.raises(UnauthenticatedError):
        await auth.from_header(f"Bearer {token}" if token else "Bearer x.y")


async def test_a_token_signed_with_another_secret_is_refused() -> None:
    token = issue_token("another-secret-that-is-32-bytes-long!!", subject="alice", roles=["admin"], ttl=60)
    assert await refusal(secret_auth(), token) == "The token's signature is not valid"


async def test_a_tampered_payload_is_refused() -> None:
    header, _, signature = issue_token(SECRET, subject="alice", roles=["customer"], ttl=60).split(".")
    forged = jwt.utils.base64url_encode(json.dumps(claims(roles=["admin"])).encode()).decode()
    assert await refusal(secret_auth(), f"{header}.{forged}.{signature}") == "The token's signature is not valid"


async def test_an_expired_token_is_refused_beyond_the_leeway_and_accepted_within_it() -> None:
    token = jwt.encode(claims(exp=int(time.time()) - 3, nbf=int(time.time()) - 60), SECRET, algorithm="HS256")
    assert await refusal(secret_auth(leeway=0), token) == "The token has expired"
    assert (await secret_auth(leeway=10).from_header(f"Bearer {token}")).subject == "alice"


async def test_a_token_not_valid_yet_is_refused() -> None:
    token = jwt.encode(claims(nbf=int(time.time()) + 120), SECRET, algorithm="HS256")
    assert await refusal(secret_auth(), token) == "The token is not valid yet"


@pytest.mark.parametrize("missing", ["exp", "nbf", "sub"])
async def test_exp_nbf_and_sub_are_required(missing: str) -> None:
    token = jwt.encode(claims(**{missing: None}), SECRET, algorithm="HS256")
    assert await refusal(secret_auth(), token) == "The token lacks a required claim (exp, nbf and sub)"


async def test_issuer_and_audience_are_checked_when_set() -> None:
    auth = secret_auth(issuer="https://id.example.com", audience="orderly")
    good = issue_token(SECRET, subject="a", roles=[], ttl=60, issuer="https://id.example.com", audience="orderly")
    assert (await auth.from_header(f"Bearer {good}")).subject == "a"
    wrong_iss = issue_token(SECRET, subject="a", roles=[], ttl=60, issuer="https://evil.example.com", audience="orderly")
    assert await refusal(auth, wrong_iss) == "The token's issuer is not accepted"
    wrong_aud = issue_token(SECRET, subject="a", roles=[], ttl=60, issuer="https://id.example.com", audience="other")
    assert await refusal(auth, wrong_aud) == "The token's audience is not accepted"
    no_iss = issue_token(SECRET, subject="a", roles=[], ttl=60, audience="orderly")
    assert await refusal(auth, no_iss) == "The token lacks a required claim (exp, nbf and sub)"
    no_aud = issue_token(SECRET, subject="a", roles=[], ttl=60, issuer="https://id.example.com")
    assert await refusal(auth, no_aud) in {"The token's audience is not accepted",
                                           "The token lacks a required claim (exp, nbf and sub)"}


async def test_unset_issuer_and_audience_are_not_checked() -> None:
    token = issue_token(SECRET, subject="a", roles=[], ttl=60, issuer="anyone", audience="anything")
    assert (await secret_auth().from_header(f"Bearer {token}")).subject == "a"


async def test_alg_none_is_refused() -> None:
    unsigned = jwt.encode(claims(roles=["admin"]), None, algorithm="none")
    assert await refusal(secret_auth(), unsigned) == "The token's algorithm is not accepted"


async def test_an_algorithm_other_than_the_configured_one_is_refused() -> None:
    token = jwt.encode(claims(), SECRET * 2, algorithm="HS512")
    assert await refusal(secret_auth(), token) == "The token's algorithm is not accepted"


async def test_with_authentication_off_every_caller_is_open() -> None:
    auth = Authenticator(AuthSettings())
    assert not auth.enabled
    assert await auth.from_header(None) is OPEN
    assert await auth.from_header("Bearer garbage") is OPEN


async def test_connection_params_take_authorization_in_either_case() -> None:
    auth = secret_auth()
    token = issue_token(SECRET, subject="alice", roles=["customer"], ttl=60)
    assert (await auth.from_connection_params({"Authorization": f"Bearer {token}"})).subject == "alice"
    assert (await auth.from_connection_params({"authorization": f"Bearer {token}"})).subject == "alice"
    for payload in (None, {}, {"token": token}, {"Authorization": 42}):
        with pytest.raises(UnauthenticatedError):
            await auth.from_connection_params(payload)


def test_the_deadline_adds_the_leeway_to_the_expiry() -> None:
    auth = secret_auth(leeway=5)
    principal = Principal(subject="a", roles=frozenset(), expires_at=datetime.fromtimestamp(1000, UTC))
    assert auth.deadline(principal) == 1005
    assert auth.expired(principal)
    assert auth.deadline(OPEN) is None and not auth.expired(OPEN)


async def test_a_verified_token_is_remembered_but_never_past_its_deadline() -> None:
    auth = secret_auth(leeway=0)
    token = issue_token(SECRET, subject="alice", roles=["staff"], ttl=2)
    first = await auth.from_header(f"Bearer {token}")
    assert await auth.from_header(f"Bearer {token}") is first  # served from the cache
    assert auth.deadline(first) is not None
    await asyncio.sleep(max(auth.deadline(first) - time.time(), 0) + 0.05)  # type: ignore[operator]
    assert await refusal(auth, token) == "The token has expired"
