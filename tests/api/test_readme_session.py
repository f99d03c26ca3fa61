"""The README's first GraphiQL session runs as written, so the documentation cannot drift from the API."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.support.graphql_client import TRANSPORT_WS, websocket

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## A first session in GraphiQL"
PLACEHOLDER = '"…"'


def readme_session_blocks() -> list[str]:
    """The GraphQL blocks of the README's first-session section, in order."""
    text = README.read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = text[start : end if end != -1 else len(text)]
    return re.findall(r"```graphql\n(.*?)```", section, flags=re.DOTALL)


def test_the_session_has_the_operations_it_describes() -> None:
    kinds = [block.split(None, 1)[0] for block in readme_session_blocks()]
    assert kinds == ["mutation", "subscription", "query", "mutation"]


async def test_every_block_of_the_session_runs_against_a_server(api: Any) -> None:
    blocks = readme_session_blocks()
    created = await api.gql.data(blocks[0])
    order_id = created["createOrder"]["orderId"]
    assert created["createOrder"]["version"] == 1
    # The README's query waits for order_views only; `customer` reads customer_summaries,
    # which a person in GraphiQL would have seen caught up by then, and a test must wait for.
    async with websocket(api.url, TRANSPORT_WS) as socket:
        waited = await socket.subscribe(
            'subscription($p: Position!) { projectionCaughtUp(name: "customer_summaries", position: $p, timeoutMs: 10000)'
            " { name } }",
            {"p": created["createOrder"]["position"]},
        )
        assert (await waited.next_message())[0] == "next"
    for block in blocks[1:]:
        assert PLACEHOLDER in block, "each later block names the order created first"
        operation = block.replace(PLACEHOLDER, f'"{order_id}"')
        if block.startswith("subscription"):
            async with websocket(api.url, TRANSPORT_WS) as socket:
                subscription = await socket.subscribe(operation)
                kind, payload = await subscription.next_message()
            assert kind == "next", payload
            assert payload["data"]["orderProjected"]["orderId"] == order_id
            continue
        data = await api.gql.data(operation)
        assert all(value is not None for value in data.values()), data
    order = await api.gql.data(f'{{ order(orderId: "{order_id}", minVersion: 2, waitMs: 10000) {{ items {{ productId }} }} }}')
    assert [item["productId"] for item in order["order"]["items"]] == ["espresso-beans", "grinder"]
