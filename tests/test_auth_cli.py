"""The `orderly` command and authentication: `serve` refuses to run open off loopback and says in
its start-up line whether authentication is on; `orderly token` prints a token the server accepts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from orderly.auth.keys import SecretKey
from orderly.auth.settings import AuthSettings
from orderly.auth.tokens import TokenVerifier
from tests.support.jwt_keys import SECRET
from tests.support.processes import ApiProcess
from tests.test_cli import orderly

AUTH_VARIABLES = ("ORDERLY_AUTH", "ORDERLY_AUTH_JWT_SECRET", "ORDERLY_AUTH_JWKS", "ORDERLY_AUTH_ISSUER",
                  "ORDERLY_AUTH_AUDIENCE", "ORDERLY_AUTH_CUSTOMER_CLAIM", "ORDERLY_AUTH_ROLES_CLAIM")


@pytest.fixture(autouse=True)
def no_auth_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in AUTH_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def database_env(tmp_path: Path) -> dict[str, str]:
    return {"ORDERLY_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}", "ORDERLY_PROJECTORS": "false"}


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10"])
def test_serve_refuses_to_run_open_on_a_host_that_is_not_loopback(host: str, database_env: dict[str, str]) -> None:
    result = orderly("serve", "--host", host, env=database_env)
    assert result.returncode == 2
    assert f"refusing to serve on {host} with authentication off" in result.stderr
    assert "ORDERLY_AUTH=off" in result.stderr and "ORDERLY_AUTH_JWT_SECRET" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def serve(tmp_path: Path, database_env: dict[str, str]) -> Iterator[object]:
    started: list[ApiProcess] = []

    def start(env: dict[str, str], *args: str) -> ApiProcess:
        process = ApiProcess({**database_env, **env}, tmp_path, f"serve-{len(started)}", projectors=False)
        process.args += list(args)
        started.append(process)
        process.start()
        process.wait_ready()
        return process

    yield start
    for process in started:
        process.stop()


def test_serve_on_loopback_runs_open_and_says_so(serve) -> None:  # type: ignore[no-untyped-def]
    process = serve({})
    assert "authentication OFF" in process.log()
    response = httpx.post(process.url, json={"query": "{ __typename }"})
    assert response.status_code == 200


def test_serve_runs_open_on_any_host_when_auth_is_explicitly_off(serve) -> None:  # type: ignore[no-untyped-def]
    process = serve({"ORDERLY_AUTH": "off"}, "--host", "0.0.0.0")
    assert "http://0.0.0.0:" in process.log() and "authentication OFF" in process.log()


def test_serve_with_a_secret_runs_anywhere_and_wants_tokens(serve) -> None:  # type: ignore[no-untyped-def]
    process = serve({"ORDERLY_AUTH_JWT_SECRET": SECRET}, "--host", "0.0.0.0")
    assert "/graphql (authentication: JWT, HS256 secret)" in process.log()
    assert httpx.post(process.url, json={"query": "{ __typename }"}).status_code == 401
    token = orderly("token", "--sub", "alice", "--role", "staff", env={"ORDERLY_AUTH_JWT_SECRET": SECRET}).stdout.strip()
    response = httpx.post(process.url, json={"query": "{ __typename }"}, headers={"Authorization": f"Bearer {token}"})
    assert response.json() == {"data": {"__typename": "Query"}}


def test_serve_with_an_unreadable_jwks_file_is_a_clear_error(tmp_path: Path, database_env: dict[str, str]) -> None:
    result = orderly("serve", env={**database_env, "ORDERLY_AUTH_JWKS": str(tmp_path / "missing.json")})
    assert result.returncode == 2
    assert "ORDERLY_AUTH_JWKS" in result.stderr and "Traceback" not in result.stderr


async def test_token_prints_an_hs256_token_the_server_accepts() -> None:
    env = {"ORDERLY_AUTH_JWT_SECRET": SECRET, "ORDERLY_AUTH_ISSUER": "orderly-cli", "ORDERLY_AUTH_AUDIENCE": "api"}
    result = orderly("token", "--sub", "alice", "--role", "customer", "--role", "staff", "--ttl", "2h", env=env)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    settings = AuthSettings(jwt_secret=SECRET, issuer="orderly-cli", audience="api")
    principal = await TokenVerifier(settings, SecretKey(SECRET)).verify(token)
    assert principal.subject == "alice" and {role.value for role in principal.roles} == {"customer", "staff"}
    assert principal.expires_at is not None
    assert abs(principal.expires_at.timestamp() - time.time() - 7200) < 60


def test_token_puts_the_customer_id_in_the_configured_claim() -> None:
    env = {"ORDERLY_AUTH_JWT_SECRET": SECRET, "ORDERLY_AUTH_CUSTOMER_CLAIM": "customer_id"}
    result = orderly("token", "--sub", "u-1", "--role", "customer", "--customer-id", "cust-7", env=env)
    assert result.returncode == 0, result.stderr
    assert jwt.decode(result.stdout.strip(), SECRET, algorithms=["HS256"])["customer_id"] == "cust-7"
    refused = orderly("token", "--sub", "u-1", "--customer-id", "cust-7", env={"ORDERLY_AUTH_JWT_SECRET": SECRET})
    assert refused.returncode == 2 and "ORDERLY_AUTH_CUSTOMER_CLAIM" in refused.stderr


@pytest.mark.parametrize(
    ("env", "args", "expected"),
    [
        ({}, [], "no ORDERLY_AUTH_JWT_SECRET"),
        ({"ORDERLY_AUTH_JWKS": "https://id.example.com/jwks.json"}, [], "no ORDERLY_AUTH_JWT_SECRET"),
        ({"ORDERLY_AUTH_JWT_SECRET": SECRET}, ["--ttl", "soon"], "not a duration"),
        ({"ORDERLY_AUTH_JWT_SECRET": SECRET}, ["--role", "root"], "invalid choice"),
    ],
)
def test_token_errors_exit_2(env: dict[str, str], args: list[str], expected: str) -> None:
    result = orderly("token", "--sub", "alice", *args, env=env)
    assert result.returncode == 2
    assert expected in result.stderr and result.stdout == ""
