"""The plain JSON POST path answers exactly as strawberry's full path does, and hands it every
request it does not take.

`application/json` takes the short path; `application/json; charset=UTF-8; x=y` is still JSON
to strawberry but not one of the short path's types, so the same body sent with it shows
what strawberry alone answers.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.api.operations import CREATE, order_input
from tests.support.server import RunningServer

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture
def api(shared_api: RunningServer) -> RunningServer:
    """One server per backend for the whole module: every test here uses ids of its own."""
    return shared_api

SHORT = {"content-type": "application/json"}
FULL = {"content-type": "application/json; charset=UTF-8; x=y"}


def _body(value: Any) -> bytes:
    return value if isinstance(value, bytes) else orjson.dumps(value)


BODIES = {
    "query": {"query": "{ projections { name } }"},
    "variables": {"query": "query($id: ID!) { order(orderId: $id) { orderId } }", "variables": {"id": "nope"}},
    "validation error": {"query": "{ nope }"},
    "syntax error": {"query": "{ order("},
    "bad variable": {"query": "query($id: ID!) { order(orderId: $id) { orderId } }", "variables": {"id": None}},
    "two operations, no name": {"query": "query A { projections { name } } query B { projections { position } }"},
    "unknown operation name": {"query": "query A { projections { name } }", "operationName": "B"},
    "no query": {"variables": {}},
    "query not a string": {"query": 5},
    "variables not an object": {"query": "{ projections { name } }", "variables": [1]},
    "batch": [{"query": "{ projections { name } }"}],
    "subscription over POST": {
        "query": "subscription { projectionCaughtUp(name: \"order_views\", position: 0) { name } }"
    },
    "malformed": b'{"query": ',
    "not an object": b'"{ projections { name } }"',
    "null": b"null",
    "number": b"123",
    "empty array": b"[]",
    "empty body": b"",
    "nested 1,000 deep": b"[" * 1000 + b"]" * 1000,
    "nested 5,000 deep": b"[" * 5000 + b"]" * 5000,
    "not UTF-8": b'{"query": "{ projections { name } }", "x": "\xff"}',
    "unpaired surrogate": b'{"query": "{ projections { name } }", "variables": {"v": "\\ud800"}}',
    "operationName not a string": {"query": "{ projections { name } }", "operationName": 5},
    "two mutations, no name": {"query": "mutation A { __typename } mutation B { __typename }"},
    "extensions not an object": {"query": "{ projections { name } }", "extensions": "x"},
    "null variables": {"query": "{ projections { name } }", "variables": None, "extensions": None},
    "variable coercion": {"query": "query($id: ID!) { __typename }", "variables": {"id": None}},
}
# Each body is sent accepting each response media type: status, content-type and bytes must agree.
ACCEPTS = [None, "application/graphql-response+json", "application/graphql-response+json, application/json;q=0.9"]


@pytest.mark.parametrize("body", list(BODIES.values()), ids=list(BODIES))
async def test_same_answer_as_strawberrys_full_path(api: RunningServer, body: Any) -> None:
    for accept in ACCEPTS:
        extra = {"accept": accept} if accept else {}
        short = await api.http.post(api.url, content=_body(body), headers={**SHORT, **extra})
        full = await api.http.post(api.url, content=_body(body), headers={**FULL, **extra})
        answer = (short.status_code, short.headers.get("content-type"))
        assert answer == (full.status_code, full.headers.get("content-type"))
        assert short.headers.get("allow") == full.headers.get("allow")
        assert short.content == full.content
        assert short.status_code < 500 and short.json(), short.text


async def test_a_mutation_takes_the_short_path_and_is_applied_once(api: RunningServer) -> None:
    response = await api.http.post(api.url, content=_body({"query": CREATE, "variables": {"input": order_input()}}),
                                   headers=SHORT)
    assert response.status_code == 200
    created = response.json()["data"]["createOrder"]
    events = await api.gql.data("query($id: ID!) { orderEvents(orderId: $id) { version } }", {"id": created["orderId"]})
    assert [event["version"] for event in events["orderEvents"]] == [1]
