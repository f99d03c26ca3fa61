"""Real JavaScript clients against a server with authentication on.

The npm graphql-ws client sends its connectionParams as the connection_init payload. Refused,
it sees the 4403 close; graphql-ws treats Forbidden as worth retrying (a connectionParams
function may fetch a fresh token), so it tries again at most `retryAttempts` times and then
reports the close: it never reconnects forever, and with retryAttempts 0 it stops at once.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from orderly.auth.settings import AuthSettings
from orderly.auth.tokens import issue_token
from tests.conftest import fresh_database_url
from tests.support.jwt_keys import SECRET
from tests.support.node_clients import require_node_clients, run_node
from tests.support.server import RunningServer, running_server, server_settings

pytestmark = pytest.mark.asyncio(loop_scope="module")

CAUGHT_UP = 'subscription { projectionCaughtUp(name: "order_views", position: 0) { name } }'


@pytest.fixture(scope="module", autouse=True)
def node_clients() -> None:
    """Install the npm clients (skip, or fail under ORDERLY_REQUIRE_SERVICES=1, without node)."""
    require_node_clients()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningServer]:
    async with fresh_database_url("sqlite", sqlite_template, tmp_path_factory.mktemp("auth-js")) as url:
        async with running_server(server_settings(url, auth=AuthSettings(jwt_secret=SECRET))) as api:
            yield api


def ws_url(api: RunningServer) -> str:
    return api.url.replace("http://", "ws://", 1)


async def graphql_ws(api: RunningServer, params: dict[str, str], retry_attempts: int) -> tuple[int, dict]:  # type: ignore[type-arg]
    return await run_node(
        "graphql_ws_auth.mjs", ws_url(api), CAUGHT_UP, "{}", json.dumps(params), str(retry_attempts)
    )


async def test_graphql_ws_with_a_token_in_connection_params_subscribes(server: RunningServer) -> None:
    token = issue_token(SECRET, subject="staff-js", roles=["staff"], ttl=60)
    code, output = await graphql_ws(server, {"Authorization": f"Bearer {token}"}, 0)
    assert code == 0, output
    assert output["results"] == [{"data": {"projectionCaughtUp": {"name": "order_views"}}}]
    assert output["connects"] == 1


@pytest.mark.parametrize("params", [{}, {"Authorization": "Bearer not.a.token"}])
async def test_graphql_ws_refused_sees_4403_and_stops_without_retries(server: RunningServer, params: dict[str, str]) -> None:
    code, output = await graphql_ws(server, params, 0)
    assert code == 1
    assert output["error"] == "close 4403: Forbidden"
    assert (output["connects"], output["closeCodes"], output["results"]) == (1, [4403], [])


async def test_graphql_ws_retries_a_refusal_only_as_often_as_it_is_told(server: RunningServer) -> None:
    code, output = await graphql_ws(server, {"Authorization": "Bearer not.a.token"}, 2)
    assert code == 1
    assert output["error"] == "close 4403: Forbidden"
    assert (output["connects"], output["closeCodes"]) == (3, [4403, 4403, 4403])


async def test_a_legacy_client_without_a_token_gets_connection_error(server: RunningServer) -> None:
    code, output = await run_node("legacy_ws_subscribe.mjs", ws_url(server), CAUGHT_UP, "{}")
    assert code == 1
    [message] = output["messages"]
    assert message["type"] == "connection_error"
    assert message["payload"]["extensions"]["code"] == "UNAUTHENTICATED"
    assert output["binaryFrames"] == 0
