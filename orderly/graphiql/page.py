"""The GraphiQL page: strawberry's page, with its styles and scripts served by this server."""

from __future__ import annotations

from functools import cache
from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse

from orderly.graphiql.assets import STATIC_PATH
from orderly.graphiql.manifest import HERE, manifest

TEMPLATE_PATH = HERE / "graphiql.html"


def _style_tag(url: str, integrity: str) -> str:
    return f'    <link crossorigin rel="stylesheet" href="{escape(url)}" integrity="{integrity}" />'


def _script_tag(url: str, integrity: str) -> str:
    return f'    <script crossorigin src="{escape(url)}" integrity="{integrity}"></script>'


@cache
def page_html(static_prefix: str = STATIC_PATH) -> str:
    """The page's HTML with every asset below static_prefix, in manifest order, with SRI hashes."""
    styles, scripts = [], []
    for package in manifest():
        for entry in package.files:
            url = f"{static_prefix}/{package.path_of(entry)}"
            if entry.role == "style":
                styles.append(_style_tag(url, entry.integrity))
            elif entry.role == "script":
                scripts.append(_script_tag(url, entry.integrity))
    template = TEMPLATE_PATH.read_text(encoding="utf-8")
    return template.replace("    <!-- orderly:styles -->", "\n".join(styles)).replace(
        "    <!-- orderly:scripts -->", "\n".join(scripts)
    )


def graphiql_page(request: Request) -> HTMLResponse:
    """The page for this request (honouring a root path the app is served below)."""
    return HTMLResponse(page_html(request.scope.get("root_path", "") + STATIC_PATH))
