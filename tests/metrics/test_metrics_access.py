"""Who may read /metrics: nobody by default; with ORDERLY_METRICS=on and authentication on, admins
only; and the rate limit never refuses a scrape (it counts its refusals instead)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from orderly.auth.settings import AuthSettings
from orderly.auth.tokens import issue_token
from orderly.limit_settings import TransportLimits
from orderly.metrics_settings import MetricsSettings
from tests.conftest import fresh_database_url
from tests.metrics.scrape import parse, value
from tests.support.jwt_keys import SECRET
from tests.support.server import RunningServer, running_server, server_settings

pytestmark = pytest.mark.asyncio(loop_scope="module")

AUTH = AuthSettings(jwt_secret=SECRET, leeway=0)
TYPENAME = {"query": "{ __typename }"}


def bearer(*roles: str) -> dict[str, str]:
    token = issue_token(SECRET, subject=f"user-{uuid.uuid4().hex[:8]}", roles=roles, ttl=300, customer_id="c-1")
    return {"Authorization": f"Bearer {token}"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def database_url(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with fresh_database_url("sqlite", sqlite_template, tmp_path_factory.mktemp("metrics-access")) as url:
        yield url


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def guarded(database_url: str) -> AsyncIterator[RunningServer]:
    """Metrics on, authentication on, and a rate limit of one request a second per principal."""
    settings = server_settings(
        database_url,
        auth=AUTH,
        metrics=MetricsSettings(enabled=True),
        transport_limits=TransportLimits(rate=1.0, rate_burst=1),
    )
    async with running_server(settings) as server:
        yield server


async def test_metrics_are_not_served_by_default(database_url: str) -> None:
    async with running_server(server_settings(database_url)) as api:
        response = await api.http.get(f"{api.base_url}/metrics")
        assert response.status_code == 404
        assert (await api.http.post(api.url, json=TYPENAME)).status_code == 200


async def test_without_a_token_a_scrape_is_refused_with_a_bearer_challenge(guarded: RunningServer) -> None:
    response = await guarded.http.get(f"{guarded.base_url}/metrics")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "orderly_" not in response.text
    bad = await guarded.http.get(f"{guarded.base_url}/metrics", headers={"Authorization": "Bearer nonsense"})
    assert bad.status_code == 401
    assert bad.headers["www-authenticate"] == 'Bearer error="invalid_token"'


@pytest.mark.parametrize("role", ["customer", "staff"])
async def test_a_token_without_the_admin_role_is_forbidden(guarded: RunningServer, role: str) -> None:
    response = await guarded.http.get(f"{guarded.base_url}/metrics", headers=bearer(role))
    assert response.status_code == 403
    assert "orderly_" not in response.text


async def test_an_admin_scrapes_as_often_as_needed_while_the_rate_limit_refuses_graphql(
    guarded: RunningServer,
) -> None:
    admin = bearer("admin")
    before = parse((await guarded.http.get(f"{guarded.base_url}/metrics", headers=admin)).text)
    assert (await guarded.http.post(guarded.url, json=TYPENAME, headers=admin)).status_code == 200
    assert (await guarded.http.post(guarded.url, json=TYPENAME, headers=admin)).status_code == 429
    for _ in range(5):
        response = await guarded.http.get(f"{guarded.base_url}/metrics", headers=admin)
        assert response.status_code == 200
    after = parse(response.text)
    refusals = "orderly_rate_limit_refusals_total"
    assert value(after, refusals) >= value(before, refusals) + 1
