"""The innermost middleware: /graphql goes straight to the view.

Starlette's ExceptionMiddleware and Router cost an order read a few per cent of its CPU (a
scope copy and a regular-expression match per route, an exception-handler lookup) to reach an
app that handles every method and error itself (orderly/graphql_view.py). Requests for exactly
`/graphql` (HTTP or WebSocket, without a root path) skip them; every other path, `/graphql/`
included, takes them as before. It sits inside every other middleware (request ids, CORS, the
transport guards), and Starlette's ServerErrorMiddleware still wraps it all.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

GRAPHQL_PATH = "/graphql"
_TYPES = frozenset({"http", "websocket"})


class GraphQLFirst:
    """Routes `/graphql` to the view; everything else to the app it wraps (Starlette's exception middleware and router)."""

    def __init__(self, app: ASGIApp, *, graphql: ASGIApp) -> None:
        self.app = app
        self.graphql = graphql

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("path") == GRAPHQL_PATH and scope["type"] in _TYPES and not scope.get("root_path"):
            await self.graphql(scope, receive, send)
            return
        await self.app(scope, receive, send)
