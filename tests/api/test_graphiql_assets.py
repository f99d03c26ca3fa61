"""GraphiQL works offline: the page loads only what this server serves, pinned by the manifest.

ORDERLY_GRAPHIQL=false turns the page and its assets off; the API itself keeps answering.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from typing import Any

import pytest

from orderly.graphiql.assets import STATIC_PATH
from orderly.graphiql.manifest import manifest, problems
from tests.support.server import RunningServer

sqlite_only = pytest.mark.parametrize("backend", ["sqlite"])  # nothing here depends on the database

ASSET = re.compile(r'<(?:script|link)\b[^>]*?(?:src|href)="([^"]+)"[^>]*?integrity="([^"]+)"')


async def graphiql_html(api: RunningServer) -> str:
    """The page a browser gets for GET /graphql."""
    response = await api.http.get(api.url, headers={"accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def test_the_vendored_files_match_the_manifest() -> None:
    assert problems(manifest()) == []


@sqlite_only
async def test_the_page_loads_every_asset_from_this_server_with_its_pinned_hash(api: RunningServer) -> None:
    html = await graphiql_html(api)
    assets = ASSET.findall(html)
    pinned = {
        f"{STATIC_PATH}/{package.path_of(entry)}": entry.integrity
        for package in manifest()
        for entry in package.files
        if entry.role != "licence"
    }
    assert dict(assets) == pinned
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html), "the page names a resource on another host"
    for url, integrity in assets:
        response = await api.http.get(api.base_url + url)
        assert response.status_code == 200, url
        assert response.headers["content-type"].split(";")[0] in {"text/javascript", "text/css"}
        assert "immutable" in response.headers["cache-control"]
        digest = base64.b64encode(hashlib.sha384(response.content).digest()).decode()
        assert integrity == f"sha384-{digest}", url


@sqlite_only
async def test_licences_are_served_and_nothing_outside_the_manifest_is(api: RunningServer) -> None:
    licence = await api.http.get(f"{api.base_url}{STATIC_PATH}/graphiql@3.8.3/LICENSE")
    assert licence.status_code == 200 and "MIT License" in licence.text
    for path in ("graphiql@3.8.3/package.json", "../manifest.json", "..%2Fpage.py", "react@18.2.0/"):
        assert (await api.http.get(f"{api.base_url}{STATIC_PATH}/{path}")).status_code == 404, path


@sqlite_only
async def test_graphiql_off_serves_neither_the_page_nor_its_assets(server_factory: Callable[..., Any]) -> None:
    async with server_factory(graphiql=False) as api:
        page = await api.http.get(api.url, headers={"accept": "text/html"})
        assert page.status_code == 404 and "graphiql" not in page.text.lower()
        asset = await api.http.get(f"{api.base_url}{STATIC_PATH}/graphiql@3.8.3/graphiql.min.js")
        assert asset.status_code == 404
        assert await api.gql.data("{ __typename }") == {"__typename": "Query"}
