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
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from schema.context import Context, Services
from schema.loaders import build_loaders


_JSON_TYPES = frozenset({"application/json", "application/json; charset=utf-8", "application/json;charset=utf-8"})
_QUERIES_AND_MUTATIONS = frozenset({OperationType.QUERY, OperationType.MUTATION})


class OrderlyGraphQL(GraphQL[Context, None]):
    """Serves GraphiQL, POST JSON and both WebSocket protocols."""

    def __init__(self, schema: Any, services: Services, **options: Any) -> None:
        super().__init__(schema, **options)
        self._services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        try:
            response = await self._plain_json_post(request) or await self.run(request)
        except HTTPException as error:
            response = JSONResponse(
                {"errors": [{"message": error.reason, "extensions": {"code": "BAD_USER_INPUT"}}]},
                status_code=error.status_code,
            )
        await response(scope, receive, send)

    async def _plain_json_post(self, request: Request) -> Response | None:
        """The common request, a POST of one JSON query or mutation, in fewer steps; None otherwise.

        strawberry's `run` serves every transport (GET, multipart, batches, incremental
        delivery) and spends about an eighth of an order(orderId) request finding out which
        one this is. This path takes only a plain JSON body with a query or mutation and uses
        the same hooks (sub-response, context, execute, process_result, create_response);
        everything else, and every request it cannot execute as such (a subscription, a
        missing or ambiguous operation), goes to `run`, which reads the cached body again.
        """
        if request.method != "POST" or request.headers.get("content-type", "").lower() not in _JSON_TYPES:
            return None
        accept = request.headers.get("accept", "")
        if "multipart/mixed" in accept or "text/event-stream" in accept:
            return None
        try:
            data = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return None
        if not isinstance(data, dict):
            return None
        query, variables = data.get("query"), data.get("variables")
        operation_name, extensions = data.get("operationName"), data.get("extensions")
        if not (
            isinstance(query, str)
            and isinstance(variables, dict | None)
            and isinstance(operation_name, str | None)
            and isinstance(extensions, dict | None)
        ):
            return None
        sub_response = await self.get_sub_response(request)
        context = await self.get_context(request, sub_response)
        try:
            result = await self.schema.execute(
                query,
                root_value=None,  # this view has no root value (GraphQL[Context, None])
                variable_values=variables,
                context_value=context,
                operation_name=operation_name,
                allowed_operation_types=_QUERIES_AND_MUTATIONS,
                operation_extensions=extensions,
            )
        except (CannotGetOperationTypeError, InvalidOperationTypeError, MissingQueryError):
            return None  # refused before anything ran: strawberry's path answers it
        response_data = await self.process_result(request, result)
        if result.errors:
            self._handle_errors(result.errors, response_data)
        return self.create_response(response_data, sub_response)

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
