"""Automatic persisted queries as Apollo's clients speak them, over HTTP POST and GET against a
running server: the miss, the registration, the hit; refusals; and every check still applying."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from orderly.auth.settings import AuthSettings
from orderly.metrics_settings import MetricsSettings
from orderly.persisted_queries import PersistedQueryMode, document_hash
from orderly.persisted_query_settings import PersistedQuerySettings
from orderly.persisted_query_store import QuerySource, open_persisted_query_store
from resolvers.compiled_operations import CompiledOperations
from resolvers.document_limits import DocumentLimits
from tests.api.authorization_support import SECRET, bearer
from tests.api.operations import CREATE, order_input
from tests.metrics.scrape import scrape, value
from tests.support.graphql_client import LEGACY_WS, TRANSPORT_WS, websocket
from tests.support.server import RunningServer

pytestmark = pytest.mark.asyncio(loop_scope="module")

NO_CACHE = "private, no-cache, must-revalidate"


@pytest.fixture
def api(shared_api: RunningServer) -> RunningServer:
    """One server per backend for the module, in the default mode (apq); every test uses documents of its own."""
    return shared_api


def fresh_query(fields: str = "projections { name }") -> tuple[str, str]:
    """A document no other test sends, its operation name."""
    name = f"Q{uuid.uuid4().hex}"
    return f"query {name} {{ {fields} }}", name


def persisted(sha256: str, version: object = 1) -> dict[str, Any]:
    return {"persistedQuery": {"version": version, "sha256Hash": sha256}}


async def send(
    server: RunningServer,
    method: str,
    *,
    query: str | None = None,
    extensions: dict[str, Any] | None = None,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """One request as Apollo's link sends it: a JSON body over POST, URL parameters over GET."""
    if method == "POST":
        body: dict[str, Any] = {"variables": variables or {}}
        if query is not None:
            body["query"] = query
        if extensions is not None:
            body["extensions"] = extensions
        return await server.http.post(server.url, json=body, headers=headers)
    params: dict[str, str] = {}
    if query is not None:
        params["query"] = query
    if extensions is not None:
        params["extensions"] = json.dumps(extensions)
    if variables:
        params["variables"] = json.dumps(variables)
    return await server.http.get(server.url, params=params, headers={"accept": "application/json", **(headers or {})})


def only_error(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert "data" not in body, body
    assert len(body["errors"]) == 1, body
    return body["errors"][0]  # type: ignore[no-any-return]


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_miss_then_register_then_hit(api: RunningServer, method: str) -> None:
    query, _ = fresh_query()
    sha = document_hash(query)

    miss = await send(api, method, extensions=persisted(sha))
    assert miss.status_code == 200
    assert only_error(miss) == {"message": "PersistedQueryNotFound", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}
    assert miss.headers["cache-control"] == NO_CACHE

    registered = await send(api, method, query=query, extensions=persisted(sha))
    assert registered.status_code == 200, registered.text
    assert {row["name"] for row in registered.json()["data"]["projections"]} >= {"order_views"}

    hit = await send(api, method, extensions=persisted(sha))
    assert hit.status_code == 200, hit.text
    assert hit.json() == registered.json()
    stored = await open_persisted_query_store(api.container.database).get(sha)
    assert stored is not None and (stored.document, stored.source) == (query, QuerySource.APQ)


async def test_a_hash_with_variables_and_an_uppercase_hash(api: RunningServer) -> None:
    order_id = (await api.gql.data(CREATE, {"input": order_input()}))["createOrder"]["orderId"]
    query = "query ByIdApq($id: ID!) { order(orderId: $id, minVersion: 1) { orderId version } }"
    sha = document_hash(query)
    assert (await send(api, "POST", query=query, extensions=persisted(sha), variables={"id": order_id})).status_code == 200
    hit = await send(api, "GET", extensions=persisted(sha.upper()), variables={"id": order_id})
    assert hit.json() == {"data": {"order": {"orderId": order_id, "version": 1}}}


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_a_read_by_hash_takes_the_compiled_road(api: RunningServer, method: str) -> None:
    order_id = (await api.gql.data(CREATE, {"input": order_input()}))["createOrder"]["orderId"]
    query = f"query ByHash{method}($id: ID!) {{ order(orderId: $id, minVersion: 1) {{ orderId version status }} }}"
    sha = document_hash(query)
    registered = await send(api, method, query=query, extensions=persisted(sha), variables={"id": order_id})
    assert registered.json()["data"]["order"]["version"] == 1, registered.text
    before = CompiledOperations.taken
    hit = await send(api, method, extensions=persisted(sha), variables={"id": order_id})
    assert hit.json() == registered.json()
    assert CompiledOperations.taken == before + 1


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_a_text_that_does_not_match_its_hash_is_refused_and_not_stored(api: RunningServer, method: str) -> None:
    query, _ = fresh_query()
    other, _ = fresh_query()
    response = await send(api, method, query=query, extensions=persisted(document_hash(other)))
    assert response.status_code == 400
    assert only_error(response) == {"message": "provided sha does not match query", "extensions": {"code": "BAD_USER_INPUT"}}
    store = open_persisted_query_store(api.container.database)
    assert await store.get(document_hash(other)) is None
    assert await store.get(document_hash(query)) is None


@pytest.mark.parametrize(
    ("extension", "message"),
    [
        (persisted("0" * 64, version=2), "Unsupported persisted query version"),
        (persisted("0" * 64, version="1"), "extensions.persistedQuery must be"),
        (persisted("not-a-hash"), "extensions.persistedQuery must be"),
        ({"persistedQuery": "0" * 64}, "extensions.persistedQuery must be"),
    ],
)
async def test_a_malformed_extension_is_a_bad_request(api: RunningServer, extension: dict[str, Any], message: str) -> None:
    response = await send(api, "POST", extensions=extension)
    assert response.status_code == 400
    error = only_error(response)
    assert error["message"].startswith(message)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_document_that_does_not_run_is_not_stored(api: RunningServer) -> None:
    invalid = f"query Q{uuid.uuid4().hex} {{ noSuchField }}"
    for query in (invalid, "{ " * 3 + "syntax error"):
        response = await send(api, "POST", query=query, extensions=persisted(document_hash(query)))
        assert response.json()["errors"], response.text
        again = await send(api, "POST", extensions=persisted(document_hash(query)))
        assert only_error(again)["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


async def test_mutations_run_by_hash_over_post_but_never_over_get(api: RunningServer) -> None:
    mutation = CREATE.replace("mutation Create", f"mutation Create{uuid.uuid4().hex}")
    sha = document_hash(mutation)
    get_first = await send(api, "GET", query=mutation, extensions=persisted(sha), variables={"input": order_input()})
    assert get_first.status_code == 405
    assert get_first.headers["allow"] == "POST"
    assert await open_persisted_query_store(api.container.database).get(sha) is None  # refused before it ran

    created = await send(api, "POST", query=mutation, extensions=persisted(sha), variables={"input": order_input()})
    assert created.json()["data"]["createOrder"]["version"] == 1
    by_hash = await send(api, "POST", extensions=persisted(sha), variables={"input": order_input()})
    assert by_hash.json()["data"]["createOrder"]["version"] == 1

    over_get = await send(api, "GET", extensions=persisted(sha), variables={"input": order_input()})
    assert over_get.status_code == 405
    assert over_get.headers["allow"] == "POST"


async def test_get_answers_vary_on_the_authorization_header(api: RunningServer) -> None:
    query, _ = fresh_query()
    response = await send(api, "GET", query=query)
    assert response.status_code == 200
    assert response.headers["vary"] == "Authorization"
    assert "cache-control" not in response.headers  # authentication off: nothing per principal


async def test_limits_apply_to_a_persisted_document(server_factory: Any) -> None:
    async with server_factory(operation_limits=DocumentLimits(max_cost=5)) as server:
        costly = "query Costly { searchOrders(pageSize: 100) { items { orderId } } }"
        sha = document_hash(costly)
        await open_persisted_query_store(server.container.database).add_from_operator(sha, costly)
        for method in ("POST", "GET"):
            error = only_error(await send(server, method, extensions=persisted(sha)))
            assert error["extensions"] == {"code": "LIMIT_EXCEEDED", "limit": "cost"}


async def test_operation_metrics_count_a_persisted_operation_by_its_name(server_factory: Any) -> None:
    async with server_factory(metrics=MetricsSettings(enabled=True)) as server:
        query, name = fresh_query()
        sha = document_hash(query)
        await send(server, "POST", query=query, extensions=persisted(sha))
        before = await scrape(server.http, f"{server.base_url}/metrics")
        for method in ("POST", "GET"):
            assert (await send(server, method, extensions=persisted(sha))).json()["data"]
        after = await scrape(server.http, f"{server.base_url}/metrics")
        seconds = "orderly_graphql_operation_seconds_count"
        assert value(after, seconds, operation=name, type="query") == value(before, seconds, operation=name, type="query") + 2


async def test_off_answers_persisted_query_not_supported(server_factory: Any) -> None:
    async with server_factory(persisted_queries=PersistedQuerySettings(mode=PersistedQueryMode.OFF)) as server:
        query, _ = fresh_query()
        for text in (None, query):
            response = await send(server, "POST", query=text, extensions=persisted(document_hash(query)))
            assert response.status_code == 200
            assert only_error(response) == {
                "message": "PersistedQueryNotSupported",
                "extensions": {"code": "PERSISTED_QUERY_NOT_SUPPORTED"},
            }
        assert (await send(server, "POST", query=query)).json()["data"]["projections"]


async def test_allowlist_runs_registered_documents_only(server_factory: Any) -> None:
    allowlist = PersistedQuerySettings(mode=PersistedQueryMode.ALLOWLIST)
    async with server_factory(persisted_queries=allowlist) as server:
        listed, _ = fresh_query()
        clients, _ = fresh_query()
        store = open_persisted_query_store(server.container.database)
        await store.add_from_operator(document_hash(listed), listed)
        await store.add_from_client(document_hash(clients), clients, max_entries=10)  # stored in an earlier apq run

        for method in ("POST", "GET"):
            assert (await send(server, method, extensions=persisted(document_hash(listed)))).json()["data"]["projections"]
            assert (await send(server, method, query=listed)).json()["data"]["projections"]
            for request in (
                {"query": clients},  # free text, not listed
                {"extensions": persisted(document_hash(clients))},  # a client's APQ document does not count
                {"query": clients, "extensions": persisted(document_hash(clients))},
                {"extensions": persisted("ab" * 32)},  # unknown hash
                {"query": 'mutation { cancelOrder(input: {orderId: "x", reason: "r"}) { version } }'},
            ):
                response = await send(server, method, **request)  # type: ignore[arg-type]
                assert response.status_code == 200
                assert only_error(response)["extensions"] == {"code": "PERSISTED_QUERY_NOT_IN_LIST"}, request
        # Nothing a client sends is stored.
        unlisted, _ = fresh_query()
        await send(server, "POST", query=unlisted, extensions=persisted(document_hash(unlisted)))
        assert await store.get(document_hash(unlisted)) is None


async def test_allowlist_with_auth_exempts_admin_tokens_only(server_factory: Any) -> None:
    allowlist = PersistedQuerySettings(mode=PersistedQueryMode.ALLOWLIST)
    async with server_factory(persisted_queries=allowlist, auth=AuthSettings(jwt_secret=SECRET)) as server:
        query, _ = fresh_query()
        admin, staff = bearer("ada", "admin"), bearer("sam", "staff")
        assert (await send(server, "POST", query=query, headers=admin)).json()["data"]["projections"]
        assert only_error(await send(server, "POST", query=query, headers=staff))["extensions"]["code"] == (
            "PERSISTED_QUERY_NOT_IN_LIST"
        )


async def test_authentication_and_authorization_hold_for_persisted_documents(server_factory: Any) -> None:
    async with server_factory(auth=AuthSettings(jwt_secret=SECRET)) as server:
        query = f"query Events{uuid.uuid4().hex}($id: ID!) {{ orderEvents(orderId: $id) {{ type }} }}"
        sha = document_hash(query)
        alice, ada = bearer("alice", "customer"), bearer("ada", "admin")

        # No token: 401 before anything is looked up or stored, on both methods.
        for method in ("POST", "GET"):
            refused = await send(server, method, query=query, extensions=persisted(sha), variables={"id": "x"})
            assert refused.status_code == 401
            assert only_error(refused)["extensions"]["code"] == "UNAUTHENTICATED"
        assert await open_persisted_query_store(server.container.database).get(sha) is None

        registered = await send(server, "POST", query=query, extensions=persisted(sha), variables={"id": "x"}, headers=ada)
        assert registered.json() == {"data": {"orderEvents": []}}
        # A customer may name the stored document, but its policy still applies.
        for method in ("POST", "GET"):
            forbidden = await send(server, method, extensions=persisted(sha), variables={"id": "x"}, headers=alice)
            assert [e["extensions"]["code"] for e in forbidden.json()["errors"]] == ["FORBIDDEN"]
        get = await send(server, "GET", extensions=persisted(sha), variables={"id": "x"}, headers=ada)
        assert get.json() == {"data": {"orderEvents": []}}
        assert get.headers["cache-control"] == "private, no-cache"
        assert get.headers["vary"] == "Authorization"


CAUGHT_UP = 'subscription CaughtUp{suffix} {{ projectionCaughtUp(name: "order_views", position: 0) {{ name }} }}'


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_websocket_operations_by_hash(api: RunningServer, protocol: str) -> None:
    listed = CAUGHT_UP.format(suffix=uuid.uuid4().hex)
    sha = document_hash(listed)
    async with websocket(api.url, protocol) as ws:
        missing = await ws.subscribe(None, extensions=persisted(sha))
        assert await missing.next_message() == (
            "error",
            [{"message": "PersistedQueryNotFound", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}],
        )
        # Text with its hash runs (and a wrong hash is refused), but a socket stores nothing.
        with_text = await ws.subscribe(listed, extensions=persisted(sha))
        assert await with_text.next_message() == ("next", {"data": {"projectionCaughtUp": {"name": "order_views"}}})
        wrong = await ws.subscribe(listed, extensions=persisted("ab" * 32))
        kind, errors = await wrong.next_message()
        assert (kind, errors[0]["message"]) == ("error", "provided sha does not match query")
        assert await open_persisted_query_store(api.container.database).get(sha) is None

        await open_persisted_query_store(api.container.database).add_from_operator(sha, listed)
        by_hash = await ws.subscribe(None, extensions=persisted(sha))
        assert await by_hash.next_message() == ("next", {"data": {"projectionCaughtUp": {"name": "order_views"}}})


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_allowlist_holds_on_websockets(server_factory: Any, protocol: str) -> None:
    async with server_factory(persisted_queries=PersistedQuerySettings(mode=PersistedQueryMode.ALLOWLIST)) as server:
        listed, unlisted = (CAUGHT_UP.format(suffix=uuid.uuid4().hex) for _ in range(2))
        await open_persisted_query_store(server.container.database).add_from_operator(document_hash(listed), listed)
        async with websocket(server.url, protocol) as ws:
            for request in ({"query": unlisted}, {"query": None, "extensions": persisted(document_hash(unlisted))}):
                refused = await ws.subscribe(**request)  # type: ignore[arg-type]
                kind, errors = await refused.next_message()
                assert (kind, errors[0]["extensions"]) == ("error", {"code": "PERSISTED_QUERY_NOT_IN_LIST"})
            for request in ({"query": listed}, {"query": None, "extensions": persisted(document_hash(listed))}):
                allowed = await ws.subscribe(**request)  # type: ignore[arg-type]
                assert await allowed.next_message() == ("next", {"data": {"projectionCaughtUp": {"name": "order_views"}}})


async def test_a_get_by_hash_accepting_anything_is_answered_not_shown_graphiql(api: RunningServer) -> None:
    query, _ = fresh_query()
    sha = document_hash(query)
    await send(api, "POST", query=query, extensions=persisted(sha))
    params = {"extensions": json.dumps(persisted(sha))}
    response = await api.http.get(api.url, params=params, headers={"accept": "*/*"})  # as Apollo Client sends it
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["data"]["projections"]
    page = await api.http.get(api.url, headers={"accept": "*/*"})  # no GraphQL parameters: GraphiQL as before
    assert page.headers["content-type"].startswith("text/html")
