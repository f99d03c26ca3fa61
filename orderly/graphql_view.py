"""The /graphql endpoint: strawberry's ASGI view with a typed context, orjson, and the
GraphQL-over-HTTP answers (media types, status codes, JSON request errors)."""

from __future__ import annotations

from typing import Any

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET, UnsetType

from orderly.auth.authenticator import DISABLED, NOBODY, Authenticator
from orderly.auth.connection import ConnectionContext
from orderly.auth.responses import unauthenticated_payload, unauthenticated_response
from orderly.graphiql.page import graphiql_page
from orderly.http_errors import request_error_response
from orderly.media_types import GRAPHQL_RESPONSE_JSON, JSON, response_media_type
from orderly.metrics import open_socket
from orderly.persisted_queries import (
    PersistedQueries,
    PersistedQueryMode,
    PersistedQueryRefusal,
    ResolvedQuery,
    refusal_response,
)
from orderly.rate_limit import principal_key
from orderly.websocket import LegacyWSHandler, TextFrameAdapter, TransportWSHandler
from schema.context import Context, Services
from schema.errors import UnauthenticatedError
from schema.loaders import build_loaders
from schema.principal import OPEN, Principal

_JSON_TYPES = frozenset({"application/json", "application/json; charset=utf-8", "application/json;charset=utf-8"})
_QUERIES_AND_MUTATIONS = frozenset({OperationType.QUERY, OperationType.MUTATION})
_QUERIES = frozenset({OperationType.QUERY})


class OrderlyGraphQL(GraphQL[Context, None]):
    """Serves GraphiQL, GET and POST JSON, and both WebSocket protocols (text frames only)."""

    websocket_adapter_class = TextFrameAdapter
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler
    # orderUpdated subscriptions are taken over by the handlers after their first result
    # (orderly/compact_subscriptions.py); False keeps every operation on strawberry's road.
    compact_subscriptions = True

    def __init__(
        self,
        schema: Any,
        services: Services,
        *,
        authenticator: Authenticator = DISABLED,
        persisted_queries: PersistedQueries | None = None,
        **options: Any,
    ) -> None:
        super().__init__(schema, **options)
        self._services = services
        self.authenticator = authenticator
        self.persisted_queries = persisted_queries or PersistedQueries(PersistedQueryMode.OFF, None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            with open_socket():
                await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        try:
            if request.method == "POST":
                await self._http_principal(request)  # a POST without a valid token: 401 before its body is read
            response = await self._plain_json_post(request) or await self.run(request)
        except HTTPException as error:
            response = request_error_response(error, response_media_type(request.headers.get("accept", "")))
        except UnauthenticatedError as error:  # from get_context, on both roads
            response = unauthenticated_response(error, request)
        except PersistedQueryRefusal as refusal:  # from _persisted_query, on both roads
            response = refusal_response(refusal, response_media_type(request.headers.get("accept", "")))
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
            isinstance(query, str | None)
            and isinstance(variables, dict | None)
            and isinstance(operation_name, str | None)
            and isinstance(extensions, dict | None)
        ):
            return None
        sub_response = await self.get_sub_response(request)
        context = await self.get_context(request, sub_response)
        resolved = await self._persisted_query(query, extensions, context)
        if resolved.text is None:
            return None  # no query at all: strawberry's path answers it
        # A query of a known, valid document runs its compiled plan (resolvers/compiled_operations.py).
        result = await self._compiled(resolved.text, variables, context, operation_name, extensions)
        if result is None:
            try:
                result = await self.schema.execute(
                    resolved.text,
                    root_value=None,  # this view has no root value (GraphQL[Context, None])
                    variable_values=variables,
                    context_value=context,
                    operation_name=operation_name,
                    allowed_operation_types=_QUERIES_AND_MUTATIONS,
                    operation_extensions=extensions,
                )
            except (CannotGetOperationTypeError, InvalidOperationTypeError, MissingQueryError):
                return None  # refused before anything ran: strawberry's path answers it
        await self._remember(resolved, result, context)
        encoded = getattr(result, "encoded_data", None)
        if encoded is not None and not result.errors and not result.extensions:
            # The compiled road encoded the data to check its size: the response is those bytes
            # in strawberry's envelope ({"data": ...}, as process_result and encode_json make it).
            return self._response(b'{"data":' + encoded + b"}", 200, sub_response)
        response_data = await self.process_result(request, result)
        if result.errors:
            self._handle_errors(result.errors, response_data)
        return self.create_response(response_data, sub_response)

    async def execute_single(  # noqa: PLR0917 - strawberry's signature
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """strawberry's, without subscriptions over HTTP: strawberry allows them for a multipart
        transport this view does not offer, then executes them as queries (a 500). Mutations only over POST."""
        allowed = _QUERIES if request_adapter.method == "GET" else _QUERIES_AND_MUTATIONS
        if request_adapter.method == "GET":
            _cache_headers(sub_response, authenticated=self.authenticator.enabled)
        resolved = await self._persisted_query(request_data.query, request_data.extensions, context)
        if resolved.text is not None:
            compiled = await self._compiled(
                resolved.text, request_data.variables, context, request_data.operation_name, request_data.extensions
            )
            if compiled is not None:
                await self._remember(resolved, compiled, context)
                return compiled
        try:
            result = await self.schema.execute(
                resolved.text,
                root_value=root_value,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=request_data.extensions,
            )
        except (CannotGetOperationTypeError, InvalidOperationTypeError, MissingQueryError) as error:
            raise HTTPException(400, "The request cannot be executed") from error  # http_errors words it
        await self._remember(resolved, result, context)
        return result

    async def _persisted_query(self, query: str | None, extensions: object, context: Context) -> ResolvedQuery:
        """The request's document text by the persisted-query rules (orderly/persisted_queries.py),
        after authentication; raises PersistedQueryRefusal, which __call__ answers."""
        return await self.persisted_queries.resolve(query, extensions, context.principal)

    async def _remember(self, resolved: ResolvedQuery, result: ExecutionResult, context: Context) -> None:
        """Once an APQ document has run (it passed parsing, validation and every limit), store it."""
        if resolved.register is not None and (result.data is not None or not _before_execution(result.errors or [])):
            client = context.request.scope.get("client") if context.request is not None else None
            await self.persisted_queries.remember(resolved, principal_key(context.principal, client))

    async def _compiled(
        self, query: str, variables: dict[str, Any] | None, context: Context, name: str | None, extensions: dict[str, Any] | None
    ) -> ExecutionResult | None:
        # Only the app's schema (resolvers/graphql_schema.py) has a compiled road.
        execute_compiled = getattr(self.schema, "execute_compiled", None)
        return None if execute_compiled is None else await execute_compiled(query, variables, context, name, extensions)

    async def parse_http_body(self, request: AsyncHTTPRequestAdapter) -> GraphQLRequestData | list[GraphQLRequestData]:
        """strawberry's parsing, after refusing (400) a JSON body strawberry would crash on.

        strawberry reads any JSON body that is not a list as an object, and passes an
        operationName of any type on to execution. Only requests the fast path handed over
        come here, so parsing the body twice costs nothing on the common road.
        """
        content_type, _ = parse_content_type(request.content_type or "")
        if request.method == "POST" and "application/json" in content_type:
            data = self.parse_json(await request.get_body())
            if not isinstance(data, dict | list):
                raise HTTPException(400, "The request body must be a JSON object")
            if isinstance(data, dict) and not isinstance(data.get("operationName"), str | None):
                raise HTTPException(400, "The GraphQL operation's `operationName` must be a string or null, if provided.")
        return await super().parse_http_body(request)

    def decode_json(self, data: str | bytes) -> object:
        """orjson: refuses bytes that are not UTF-8, unpaired surrogates and nesting over 1024
        with a JSONDecodeError (the standard library raises RecursionError or UnicodeDecodeError)."""
        return orjson.loads(data)

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        """strawberry's sub-response, carrying the response media type the client accepts."""
        sub_response = await super().get_sub_response(request)
        sub_response.media_type = response_media_type(request.headers.get("accept", ""))
        return sub_response

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        """strawberry's formatting, except that a request error (nothing executed) has no data entry."""
        if result.data is None and result.errors and _before_execution(result.errors):
            response: GraphQLHTTPResponse = {"errors": [error.formatted for error in result.errors]}
            if result.extensions:
                response["extensions"] = result.extensions
            return response
        return await super().process_result(request, result)

    def create_response(self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response) -> Response:
        """The JSON response in the negotiated media type; with application/graphql-response+json
        a response without data (a request error) is a 400, as the specification asks."""
        status = 200
        if sub_response.media_type == GRAPHQL_RESPONSE_JSON and isinstance(response_data, dict) and "data" not in response_data:
            status = 400
        return self._response(self.encode_json(response_data), status, sub_response)

    def _response(self, body: bytes, status: int, sub_response: Response) -> Response:
        response = Response(body, status_code=status, media_type=sub_response.media_type or JSON)
        response.headers.raw.extend(sub_response.headers.raw)
        if sub_response.background:
            response.background = sub_response.background
        if sub_response.status_code:
            response.status_code = sub_response.status_code
        return response

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        """A context per HTTP request, with the principal its Authorization header proves (raises
        UnauthenticatedError when it proves none); per WebSocket connection, with loaders that do
        not cache and the principal `on_ws_connect` sets from connection_init."""
        if not isinstance(request, Request):
            return ConnectionContext(
                services=self._services,
                loaders=build_loaders(self._services.customers, cache=False),
                principal=NOBODY if self.authenticator.enabled else OPEN,
                request=request,
                response=response,
            )
        return Context(
            services=self._services,
            loaders=build_loaders(self._services.customers, cache=True),
            principal=await self._http_principal(request),
            request=request,
            response=response,
        )

    async def _http_principal(self, request: Request) -> Principal:
        # strawberry builds the context before it refuses a method or renders GraphiQL's page:
        # those run nothing, so they need no token (GraphiQL must load before one is pasted).
        if not self.authenticator.enabled:
            return OPEN
        adapter = self.request_adapter_class(request)
        if not self.is_request_allowed(adapter) or self.should_render_graphql_ide(adapter):
            return NOBODY
        return await self.authenticator.from_header(request.headers.get("authorization"))

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Authenticate connection_init's payload; its principal serves every operation on the socket.

        A missing or bad token refuses the connection through strawberry: graphql-transport-ws
        closes with 4403 Forbidden (graphql-ws's own server does so when onConnect refuses);
        legacy graphql-ws sends connection_error with the UNAUTHENTICATED error, then closes
        (with 1011, as subscriptions-transport-ws's server does)."""
        if not self.authenticator.enabled or not isinstance(context, ConnectionContext):
            return UNSET
        try:
            principal = await self.authenticator.from_connection_params(context.connection_params)
        except UnauthenticatedError as error:
            raise ConnectionRejectionError(unauthenticated_payload(error)) from None
        context.principal = principal
        context.deadline = self.authenticator.deadline(principal)
        return UNSET

    def should_render_graphql_ide(self, request: Any) -> bool:
        """strawberry's rule (a GET without `query` that accepts text/html or */*), except that a GET
        naming a persisted query by `extensions` is a GraphQL request: Apollo Client sends such GETs
        with `Accept: */*`, and would get GraphiQL's page instead of its answer."""
        return "extensions" not in request.query_params and super().should_render_graphql_ide(request)

    async def render_graphql_ide(self, request: Request) -> Response:
        """GraphiQL with its assets served by this server (works offline)."""
        return graphiql_page(request)

    def encode_json(self, data: object) -> bytes:
        """orjson: faster than the standard library on every response (WebSocket frames decode it to text)."""
        return orjson.dumps(data)


def _cache_headers(sub_response: Response, *, authenticated: bool) -> None:
    # A GET query may be cached (persisted queries make its URL short and stable), but its answer
    # depends on the Authorization header: caches key on it, and with authentication on every
    # answer is one principal's, so no shared cache keeps it and browsers revalidate (read models
    # move on with every event). Without authentication the operator's CDN policy decides.
    sub_response.headers["Vary"] = "Authorization"
    if authenticated:
        sub_response.headers["Cache-Control"] = "private, no-cache"


def _before_execution(errors: list[GraphQLError]) -> bool:
    # Parse, validation and variable errors carry no path; a field error that nulled the
    # whole result always does.
    return all(error.path is None for error in errors)
