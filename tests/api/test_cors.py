"""Browser apps on another origin: CORS over HTTP and the WebSocket origin check, both protocols."""

from __future__ import annotations

import json
from typing import Any

import pytest
import websockets

from tests.support.graphql_client import LEGACY_WS, TRANSPORT_WS

APP = "https://app.example.com"
STRANGER = "https://evil.example.net"
QUERY = {"query": "{ projections { name } }"}
# What Apollo Client sends on a cross-origin POST (its preflight asks for these).
APOLLO_HEADERS = "content-type,authorization,apollographql-client-name,apollographql-client-version"


@pytest.fixture
async def cors_api(server_factory: Any) -> Any:
    async with server_factory(cors_origins=(APP,)) as server:
        yield server


async def test_an_allowed_origin_gets_its_origin_and_credentials_back(cors_api: Any) -> None:
    response = await cors_api.http.post(cors_api.url, json=QUERY, headers={"Origin": APP})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APP
    assert response.headers["access-control-allow-credentials"] == "true"
    assert response.json()["data"]["projections"]


async def test_a_refused_origin_gets_no_cors_headers(cors_api: Any) -> None:
    response = await cors_api.http.post(cors_api.url, json=QUERY, headers={"Origin": STRANGER})
    assert "access-control-allow-origin" not in response.headers


async def test_the_preflight_of_an_allowed_origin_allows_the_clients_headers(cors_api: Any) -> None:
    response = await cors_api.http.options(
        cors_api.url,
        headers={
            "Origin": APP,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": APOLLO_HEADERS,
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APP
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed = {header.strip().lower() for header in response.headers["access-control-allow-headers"].split(",")}
    assert set(APOLLO_HEADERS.split(",")) <= allowed
    assert int(response.headers["access-control-max-age"]) > 0


async def test_the_preflight_of_a_refused_origin_fails(cors_api: Any) -> None:
    response = await cors_api.http.options(
        cors_api.url,
        headers={
            "Origin": STRANGER,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


async def test_without_the_setting_no_other_origin_is_allowed(api: Any) -> None:
    response = await api.http.post(api.url, json=QUERY, headers={"Origin": APP})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
    preflight = await api.http.options(
        api.url, headers={"Origin": APP, "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in preflight.headers


async def _handshake(url: str, protocol: str, origin: str) -> str:
    """The type of the server's answer to connection_init, or the refusal as 'refused:<status>'."""
    ws_url = url.replace("http://", "ws://", 1)
    try:
        async with websockets.connect(ws_url, subprotocols=[protocol], origin=origin) as socket:  # type: ignore[list-item,arg-type]
            await socket.send(json.dumps({"type": "connection_init", "payload": {}}))
            return str(json.loads(await socket.recv())["type"])
    except websockets.InvalidStatus as refused:
        return f"refused:{refused.response.status_code}"


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_websockets_from_an_allowed_origin_connect_and_others_are_refused(cors_api: Any, protocol: str) -> None:
    assert await _handshake(cors_api.url, protocol, APP) == "connection_ack"
    assert await _handshake(cors_api.url, protocol, STRANGER) == "refused:403"


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_websockets_without_the_setting_accept_only_the_same_origin(api: Any, protocol: str) -> None:
    assert await _handshake(api.url, protocol, api.base_url) == "connection_ack"
    assert await _handshake(api.url, protocol, APP) == "refused:403"
