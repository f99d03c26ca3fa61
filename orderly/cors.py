"""CORS for browser apps on other origins: which origins, methods and headers /graphql accepts."""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

# What Apollo Client, urql, Relay and GraphiQL send on a cross-origin POST, plus the bearer
# token. A header missing here fails the browser's preflight, so the list errs on the side
# of the clients' own headers; none of them changes what the server does.
ALLOWED_HEADERS = (
    "accept",
    "authorization",
    "content-type",
    "apollographql-client-name",
    "apollographql-client-version",
    "apollo-require-preflight",
    "x-apollo-operation-name",
    "x-request-id",
)
PREFLIGHT_MAX_AGE_SECONDS = 600


def cors_middleware(origins: tuple[str, ...]) -> list[Middleware]:
    """The CORS middleware for these origins; none (same-origin only) when the tuple is empty."""
    if not origins:
        return []
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=list(origins),
            allow_methods=["GET", "POST"],
            allow_headers=list(ALLOWED_HEADERS),
            allow_credentials=True,
            expose_headers=["Retry-After"],
            max_age=PREFLIGHT_MAX_AGE_SECONDS,
        )
    ]
