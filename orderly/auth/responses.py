"""How a refused token looks to a client: a GraphQL error with extensions.code UNAUTHENTICATED,
over HTTP with status 401 and a `WWW-Authenticate: Bearer` challenge (RFC 6750)."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response

from orderly.media_types import response_media_type
from schema.errors import UnauthenticatedError


def unauthenticated_payload(error: UnauthenticatedError) -> dict[str, object]:
    """The formatted GraphQL error for a refused or missing token."""
    return {"message": str(error), "extensions": {"code": "UNAUTHENTICATED"}}


def unauthenticated_response(error: UnauthenticatedError, request: Request) -> Response:
    """401 with the error as a GraphQL response (no data entry) in the client's media type.

    The challenge says `invalid_token` when a token was sent, and nothing more when none was
    (RFC 6750 §3.1: a request without credentials gets no error code).
    """
    challenge = 'Bearer error="invalid_token"' if request.headers.get("authorization") else "Bearer"
    return Response(
        orjson.dumps({"errors": [unauthenticated_payload(error)]}),
        status_code=401,
        media_type=response_media_type(request.headers.get("accept", "")),
        headers={"WWW-Authenticate": challenge},
    )
