"""GraphiQL in headless Chromium with no internet: README's first session, mutation then subscription.

The page, its scripts and styles must all come from the server; the subscription runs over the
browser's own WebSocket through GraphiQL's bundled graphql-ws client (which only reads text frames).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import offline_page, require_browser
from tests.support.server import RunningServer

pytestmark = pytest.mark.browser

CREATE_ORDER = """mutation {
  createOrder(input: {
    customerId: "alice"
    items: [{ productId: "espresso-beans", quantity: 2, price: "12.50" }]
    shippingAddress: { line1: "1 Main St", city: "Springfield", postalCode: "12345", country: "US" }
  }) { orderId version position commandId }
}"""

ORDER_PROJECTED = """subscription {
  orderProjected(orderId: "%s", minVersion: 1, timeoutMs: 5000) {
    orderId status totalAmount version
  }
}"""

QUERY_EDITOR = ".graphiql-query-editor .CodeMirror"
RESPONSE = ".result-window .CodeMirror"


async def run_in_graphiql(page: Any, document: str, expect: str) -> dict[str, Any]:
    """Put a document in the editor, click run, and return the response once it names `expect` or errors."""
    await page.evaluate(f"text => document.querySelector('{QUERY_EDITOR}').CodeMirror.setValue(text)", document)
    # GraphiQL parses the editor (and so knows a subscription from a query) in a debounced
    # handler that also calls the page's onEditQuery, which writes ?q=: wait for that.
    await page.wait_for_function("text => new URLSearchParams(location.search).get('q') === text", arg=document)
    await page.click(".graphiql-execute-button")
    answer = await page.wait_for_function(
        """([selector, expect]) => {
            const text = document.querySelector(selector).CodeMirror.getValue();
            return (text.includes(expect) || text.includes('"errors"')) && text;
        }""",
        arg=[RESPONSE, expect],
    )
    return json.loads(await answer.json_value())


@pytest.mark.parametrize("backend", ["sqlite"])  # the browser path is the same on PostgreSQL
async def test_graphiql_runs_a_mutation_and_a_subscription_offline(api: RunningServer, tmp_path: Path) -> None:
    require_browser()
    async with offline_page() as (page, log):
        screenshot = tmp_path / "graphiql-failure.png"
        try:
            await page.goto(api.url)
            await page.wait_for_selector(QUERY_EDITOR)

            created = await run_in_graphiql(page, CREATE_ORDER, "orderId")
            assert "errors" not in created, created
            order = created["data"]["createOrder"]
            assert (order["version"], order["position"] >= 1) == (1, True), order

            projected = await run_in_graphiql(page, ORDER_PROJECTED % order["orderId"], "orderProjected")
            assert projected == {"data": {"orderProjected": {
                "orderId": order["orderId"], "status": "CREATED", "totalAmount": "25.00", "version": 1,
            }}}, projected

            assert log.blocked == [], "the page tried to leave the machine"
            assert log.page_errors == [], "uncaught errors in the page"
        except Exception as error:
            await page.screenshot(path=str(screenshot), full_page=True)
            raise AssertionError(f"{error}\n{log.summary()}\nscreenshot: {screenshot}") from error


async def test_the_offline_guard_records_what_would_leave_the_machine(tmp_path: Path) -> None:
    require_browser()
    async with offline_page() as (page, log):
        await page.goto("data:text/html,<title>guard</title>")
        await page.evaluate("""async () => {
            await fetch('https://unpkg.com/react@18.2.0/umd/react.production.min.js').catch(() => null);
            const socket = new WebSocket('wss://example.com/graphql');
            await new Promise(done => { socket.onerror = done; socket.onclose = done; });
        }""")
        assert log.blocked == [
            "https://unpkg.com/react@18.2.0/umd/react.production.min.js", "wss://example.com/graphql"
        ]
