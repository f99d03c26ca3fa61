"""The GraphQL-over-HTTP specification's server rules, one test each, as graphql-http's server
audit checks them (tests/clients/audit_server.mjs runs the audit itself where node is installed).

Each row: the audit's id, the request, the status it must get and what the body must show.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.support.server import RunningServer

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture
def api(shared_api: RunningServer) -> RunningServer:
    """One server per backend for the whole module: every test here uses ids of its own."""
    return shared_api

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
TYPENAME = {"query": "{ __typename }"}
TYPE_QUERY = "query Type($name: String!) { __type(name: $name) { name } }"
NOT_A_FIELD = "{ 8f31403dfe404bccbb0e835f2629c6a7 }"
COERCION = {"query": "query CoerceFailure($id: ID!){ __typename }", "variables": {"id": None}}


@dataclass(frozen=True)
class Rule:
    """One audited rule: a request and what its answer must be."""

    id: str
    method: str = "POST"
    body: Any = None  # JSON-encoded unless bytes or str
    accept: str | None = None
    content_type: str | None = JSON
    params: dict[str, str] = field(default_factory=dict)
    status: tuple[int, int] = (200, 200)
    media_type: str | None = None  # the response's content-type must contain it
    no_errors: bool = False
    no_data: bool = False


def post(rule_id: str, body: Any, **changes: Any) -> Rule:
    """A POST rule."""
    return Rule(rule_id, body=body, **changes)


OK = (200, 200)
BAD = (400, 400)
INVALID = [{"obj": "ect"}, 0, False, ["array"]]

RULES = [
    post("22EB", TYPENAME, accept=GRAPHQL_RESPONSE, media_type=GRAPHQL_RESPONSE),
    post("4655", TYPENAME, accept=JSON, media_type=JSON),
    post("47DE", TYPENAME, accept="*/*", media_type=JSON),
    post("80D8", TYPENAME, media_type=JSON),
    post("82A3", TYPENAME),
    post("BF61", {"query": '{ __type(name: "Run🏃Swim🏊") { name } }'}, content_type="application/json; charset=utf-8"),
    post("78D5", TYPENAME),
    post("2C94", TYPENAME),
    Rule("5A70", method="GET", params={"query": "{ __typename }"}, content_type=None),
    Rule("9C48", method="GET", params={"query": "mutation { __typename }"}, accept=GRAPHQL_RESPONSE,
         content_type=None, status=(400, 499)),
    post("9ABE", json.dumps(TYPENAME), content_type="text/plain;charset=UTF-8", status=(400, 499)),
    post("03D4", TYPENAME),
    post("A5BF", b"", status=BAD),
    post("423L", {"notquery": "{ __typename }"}, accept=GRAPHQL_RESPONSE, status=BAD),
    *[post(f"LKJ{index}", {"query": invalid}, status=BAD) for index, invalid in enumerate(INVALID)],
    post("34A2", TYPENAME, accept=GRAPHQL_RESPONSE),
    post("13EE", TYPENAME, accept=JSON, no_errors=True),
    *[post(f"6C0{index}", {"operationName": invalid, **TYPENAME}, status=BAD) for index, invalid in enumerate(INVALID)],
    post("8161", {"operationName": "Query", "query": "query Query { __typename }"}, accept=GRAPHQL_RESPONSE),
    post("B8B3", {"operationName": "Query", "query": "query Query { __typename }"}, accept=JSON, no_errors=True),
    *[post(f"94B{index}", {**TYPENAME, name: None}, accept=GRAPHQL_RESPONSE, no_errors=True)
      for index, name in enumerate(["variables", "operationName", "extensions"])],
    *[post(f"022{index}", {**TYPENAME, name: None}, accept=JSON, no_errors=True)
      for index, name in enumerate(["variables", "operationName", "extensions"])],
    *[post(f"476{index}", {**TYPENAME, "variables": invalid}, status=BAD)
      for index, invalid in enumerate(["string", 0, False, ["array"]])],
    post("2EA1", {"query": TYPE_QUERY, "variables": {"name": "sometype"}}, accept=GRAPHQL_RESPONSE),
    post("28B9", {"query": TYPE_QUERY, "variables": {"name": "sometype"}}, accept=JSON, no_errors=True),
    Rule("D6D5", method="GET", params={"query": TYPE_QUERY, "variables": json.dumps({"name": "sometype"})},
         accept=GRAPHQL_RESPONSE, content_type=None, no_errors=True),
    Rule("6A70", method="GET", params={"query": TYPE_QUERY, "variables": json.dumps({"name": "sometype"})},
         accept=JSON, content_type=None, no_errors=True),
    *[post(f"58B{index}", {**TYPENAME, "extensions": invalid}, status=BAD)
      for index, invalid in enumerate(["string", 0, False, ["array"]])],
    post("428F", {**TYPENAME, "extensions": {"some": "value"}}, accept=GRAPHQL_RESPONSE),
    post("1B7A", {**TYPENAME, "extensions": {"some": "value"}}, accept=JSON, no_errors=True),
    post("B6DC", '{ "not a JSON', accept=JSON, status=(200, 599)),
    post("BCF8", '{ "not a JSON', accept=JSON, status=BAD),
    post("B7N8", '{ "not a JSON', accept=GRAPHQL_RESPONSE, status=BAD),
    post("8764", {"qeury": "{ __typename }"}, status=(400, 599)),
    post("3E3A", {"qeury": "{ __typename }"}, status=BAD),
    post("572B", {"query": "{"}, accept=JSON),
    post("FDE2", {"query": NOT_A_FIELD}, accept=JSON),
    post("7B9B", COERCION, accept=JSON),
    post("865D", {"query": "{"}, accept=GRAPHQL_RESPONSE, status=(400, 599)),
    post("556A", {"query": "{"}, accept=GRAPHQL_RESPONSE, status=BAD),
    post("D586", {"query": "{"}, accept=GRAPHQL_RESPONSE, status=BAD, no_data=True),
    post("51FE", {"query": NOT_A_FIELD}, accept=GRAPHQL_RESPONSE, status=(400, 599)),
    post("74FF", {"query": NOT_A_FIELD}, accept=GRAPHQL_RESPONSE, status=BAD),
    post("5E5B", {"query": NOT_A_FIELD}, accept=GRAPHQL_RESPONSE, status=BAD, no_data=True),
    post("86EE", COERCION, accept=GRAPHQL_RESPONSE, status=BAD),
]


async def send(api: RunningServer, rule: Rule) -> httpx.Response:
    """The rule's request."""
    headers = {name: value for name, value in (("accept", rule.accept), ("content-type", rule.content_type)) if value}
    if rule.method == "GET":
        return await api.http.get(api.url, params=rule.params, headers=headers)
    body = rule.body
    content = body if isinstance(body, bytes) else body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return await api.http.post(api.url, content=content, headers=headers)


# Transport rules: one backend is enough.
@pytest.mark.parametrize("module_backend", ["sqlite"], indirect=True, scope="module")
@pytest.mark.parametrize("rule", RULES, ids=[rule.id for rule in RULES])
async def test_graphql_over_http_rule(api: RunningServer, rule: Rule) -> None:
    response = await send(api, rule)
    low, high = rule.status
    assert low <= response.status_code <= high, (response.status_code, response.text)
    response.content.decode("utf-8")  # 82A3: the body is UTF-8
    if rule.media_type:
        assert rule.media_type in response.headers["content-type"]
    body = response.json()
    assert isinstance(body, dict) and ("data" in body or body.get("errors")), body  # always a GraphQL response
    if rule.no_errors:
        assert "errors" not in body, body
    if rule.no_data:
        assert "data" not in body, body


@pytest.mark.parametrize("module_backend", ["sqlite"], indirect=True, scope="module")
@pytest.mark.parametrize(("accept", "expected"), [
    ("application/graphql-response+json, application/json;q=0.9", GRAPHQL_RESPONSE),
    ("application/json, application/graphql-response+json;q=0.5", JSON),
    ("application/json;q=0.5, application/graphql-response+json;q=0.5", GRAPHQL_RESPONSE),
    ("application/graphql-response+json;q=0", JSON),
    ("text/html", JSON),
])
async def test_the_response_media_type_follows_the_accept_header(
    api: RunningServer, accept: str, expected: str
) -> None:
    response = await api.http.post(api.url, json=TYPENAME, headers={"accept": accept})
    assert (response.status_code, response.headers["content-type"]) == (200, expected)
