"""Apollo Client 3's persisted-queries link against a running server: the miss, the retry with the
text, then the hash alone, over POST and over GET (useGETForHashedQueries)."""

from __future__ import annotations

import json
import uuid

import pytest

from orderly.auth.settings import AuthSettings
from tests.api.authorization_support import SECRET, bearer
from tests.support.node_clients import require_node_clients, run_node
from tests.support.server import RunningServer

pytestmark = pytest.mark.asyncio


def projections_query() -> str:
    return f"query Apollo{uuid.uuid4().hex} {{ projections {{ name }} }}"


@pytest.mark.parametrize("use_get", [False, True])
async def test_apollo_client_registers_then_sends_hashes(api: RunningServer, use_get: bool) -> None:
    require_node_clients()
    query = projections_query()
    code, output = await run_node("apollo_persisted_queries.mjs", api.url, query, "{}", json.dumps(use_get), "{}")
    assert code == 0, output
    first, second = output["results"]
    assert first == second and {row["name"] for row in first["projections"]} >= {"order_views"}
    hashed_method = "GET" if use_get else "POST"
    assert output["requests"] == [
        {"method": hashed_method, "withQuery": False, "withHash": True, "status": 200, "codes": ["PERSISTED_QUERY_NOT_FOUND"]},
        {"method": "POST", "withQuery": True, "withHash": True, "status": 200, "codes": []},
        {"method": hashed_method, "withQuery": False, "withHash": True, "status": 200, "codes": []},
    ]


async def test_apollo_client_with_a_token(server_factory: object) -> None:
    require_node_clients()
    async with server_factory(auth=AuthSettings(jwt_secret=SECRET)) as server:  # type: ignore[operator]
        query = projections_query()
        headers = json.dumps(bearer("sam", "staff"))
        code, output = await run_node("apollo_persisted_queries.mjs", server.url, query, "{}", "true", headers)
        assert code == 0, output
        assert [request["codes"] for request in output["requests"]] == [["PERSISTED_QUERY_NOT_FOUND"], [], []]
        code, refused = await run_node("apollo_persisted_queries.mjs", server.url, query, "{}", "true", "{}")
        assert code == 1
        assert [request["status"] for request in refused["requests"]] == [401]
