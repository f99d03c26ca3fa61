"""GraphiQL with authentication on, in headless Chromium: the page loads without a token; with
`Authorization: Bearer <token>` in its headers pane, GraphiQL sends the token with every HTTP
request and in the graphql-ws connection_init payload (it merges its headers into the
connectionParams), so a mutation and a subscription both run as that principal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from orderly.auth.settings import AuthSettings
from orderly.auth.tokens import issue_token
from tests.browser.test_graphiql import CREATE_ORDER, ORDER_PROJECTED, QUERY_EDITOR, run_in_graphiql
from tests.support.browser import offline_page, require_browser
from tests.support.jwt_keys import SECRET

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("backend", ["sqlite"])  # the browser path is the same on PostgreSQL
async def test_graphiql_runs_as_the_token_pasted_in_its_headers_pane(server_factory: Any, tmp_path: Path) -> None:
    require_browser()
    async with server_factory(auth=AuthSettings(jwt_secret=SECRET)) as api:
        token = issue_token(SECRET, subject="staff-graphiql", roles=["staff"], ttl=600)
        async with offline_page() as (page, log):
            screenshot = tmp_path / "graphiql-auth-failure.png"
            try:
                await page.goto(api.url)  # no token yet: the page itself loads
                await page.wait_for_selector(QUERY_EDITOR)
                refused = await run_in_graphiql(page, CREATE_ORDER, "orderId")
                assert refused["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", refused

                # GraphiQL's headers pane starts from the page's ?headers= parameter.
                headers = json.dumps({"Authorization": f"Bearer {token}"})
                await page.goto(f"{api.url}?headers={quote(headers)}")
                await page.wait_for_selector(QUERY_EDITOR)
                created = await run_in_graphiql(page, CREATE_ORDER, "orderId")
                assert "errors" not in created, created
                order = created["data"]["createOrder"]
                projected = await run_in_graphiql(page, ORDER_PROJECTED % order["orderId"], "orderProjected")
                assert projected["data"]["orderProjected"]["orderId"] == order["orderId"], projected
                assert log.blocked == [], "the page tried to leave the machine"
            except Exception as error:
                await page.screenshot(path=str(screenshot), full_page=True)
                raise AssertionError(f"{error}\n{log.summary()}\nscreenshot: {screenshot}") from error
