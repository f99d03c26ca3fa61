"""/graphql skips Starlette's router (orderly/graphql_first.py); every other path, and /graphql
under a root path, still takes it. Over HTTP: the answers a client sees are the router's."""

from __future__ import annotations

from typing import Any

from orderly.graphql_first import GraphQLFirst
from tests.support.server import RunningServer, running_server, server_settings


class _Recorder:
    def __init__(self, name: str, seen: list[str]) -> None:
        self.name, self.seen = name, seen

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.seen.append(self.name)


async def test_only_exactly_graphql_goes_straight_to_the_view() -> None:
    seen: list[str] = []
    app = GraphQLFirst(_Recorder("router", seen), graphql=_Recorder("view", seen))
    scopes = [
        ({"type": "http", "path": "/graphql", "root_path": ""}, "view"),
        ({"type": "websocket", "path": "/graphql"}, "view"),
        ({"type": "http", "path": "/graphql/"}, "router"),
        ({"type": "http", "path": "/healthz"}, "router"),
        ({"type": "http", "path": "/graphql", "root_path": "/api"}, "router"),
        ({"type": "lifespan"}, "router"),
    ]
    for scope, expected in scopes:
        seen.clear()
        await app(scope, None, None)
        assert seen == [expected], scope


async def test_the_router_still_answers_other_paths(database_url: str) -> None:
    server: RunningServer
    async with running_server(server_settings(database_url)) as server:
        ok = await server.http.post(server.url, json={"query": "{ __typename }"})
        assert ok.status_code == 200 and ok.json() == {"data": {"__typename": "Query"}}
        assert ok.headers["x-request-id"]
        slash = await server.http.post(f"{server.base_url}/graphql/", json={"query": "{ __typename }"})
        assert slash.status_code == 307 and slash.headers["location"].endswith("/graphql")
        assert (await server.http.get(f"{server.base_url}/healthz")).json() == {"status": "ok"}
        missing = await server.http.get(f"{server.base_url}/nothing-here")
        assert missing.status_code == 404 and missing.headers["x-request-id"]
        put = await server.http.put(server.url, json={"query": "{ __typename }"})
        assert put.status_code == 405
