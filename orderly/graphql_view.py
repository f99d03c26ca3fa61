"""The /graphql endpoint: strawberry's ASGI view with a typed context, orjson and JSON 400s."""

from __future__ import annotations

from typing import Any

import orjson
from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from schema.context import Context, Services
from schema.loaders import build_loaders


class OrderlyGraphQL(GraphQL[Context, None]):
    """Serves GraphiQL, POST JSON and both WebSocket protocols."""

    def __init__(self, schema: Any, services: Services, **options: Any) -> None:
        super().__init__(schema, **options)
        self._services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        try:
            response = await self.run(Request(scope=scope, receive=receive))
        except HTTPException as error:
            response = JSONResponse(
                {"errors": [{"message": error.reason, "extensions": {"code": "BAD_USER_INPUT"}}]},
                status_code=error.status_code,
            )
        await response(scope, receive, send)

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        """A context per HTTP request; per WebSocket connection, with loaders that do not cache."""
        is_websocket = request.scope["type"] == "websocket"
        return Context(
            services=self._services,
            loaders=build_loaders(self._services.customers, cache=not is_websocket),
            request=request,
            response=response,
        )

    def encode_json(self, data: object) -> bytes:
        """orjson: faster than the standard library on every response."""
        return orjson.dumps(data)
