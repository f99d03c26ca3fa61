"""Request errors over HTTP: every refusal is a JSON GraphQL response with the status the
GraphQL-over-HTTP specification gives it, never a plain-text body or a 500.

- A request that is not well-formed (not JSON, not an object, a parameter of the wrong type,
  no query, an unsupported content type): 400 whatever the client accepts.
- A mutation over GET: 405 with `Allow: POST` (the specification's MUST); any method but GET
  and POST: 405 with `Allow: GET, POST`.
- A well-formed request that cannot run (the operation cannot be determined, a subscription
  over HTTP): a GraphQL request error, 200 for application/json clients (the specification
  asks for 200 on every well-formed request there) and 400 for application/graphql-response+json.
"""

from __future__ import annotations

import orjson
from cross_web import HTTPException
from starlette.responses import Response
from strawberry.exceptions import MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from orderly.media_types import GRAPHQL_RESPONSE_JSON

SUBSCRIPTION_OVER_HTTP = (
    "Subscriptions are not served over HTTP; open a WebSocket to /graphql (graphql-transport-ws or graphql-ws)"
)
MUTATION_OVER_GET = "Mutations are not allowed over GET; send them with POST"
NO_QUERY = "No GraphQL query found in the request"


def error_body(message: str) -> bytes:
    """A GraphQL response with one BAD_USER_INPUT request error and no data entry."""
    return orjson.dumps({"errors": [{"message": message, "extensions": {"code": "BAD_USER_INPUT"}}]})


def request_error_response(error: HTTPException, media_type: str) -> Response:
    """The answer to a request strawberry refused, in the client's media type."""
    cause = error.__cause__
    status, message, headers = error.status_code, error.reason, None
    if isinstance(cause, InvalidOperationTypeError):
        if cause.operation_type is OperationType.MUTATION:
            status, message, headers = 405, MUTATION_OVER_GET, {"Allow": "POST"}
        else:
            status, message = _request_error_status(media_type), SUBSCRIPTION_OVER_HTTP
    elif isinstance(cause, CannotGetOperationTypeError):
        status, message = _request_error_status(media_type), _operation_message(cause)
    elif isinstance(cause, MissingQueryError):
        message = NO_QUERY
    elif status == 405:
        headers = {"Allow": "GET, POST"}  # a method GraphQL does not serve at all
    return Response(error_body(message), status_code=status, media_type=media_type, headers=headers)


def _request_error_status(media_type: str) -> int:
    return 400 if media_type == GRAPHQL_RESPONSE_JSON else 200


def _operation_message(error: CannotGetOperationTypeError) -> str:
    if error.operation_name is None:
        return "The document has several operations (or none); name the one to run with operationName"
    return f'The document has no operation named "{error.operation_name}"'
