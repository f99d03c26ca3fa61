"""A transport limit's refusal as a GraphQL response: one LIMIT_EXCEEDED error naming the limit,
no data entry, and `Connection: close` when the rest of the request is not worth reading."""

from __future__ import annotations

import math
from http import HTTPStatus

import orjson
from starlette.types import Send

from orderly.media_types import JSON


def limit_error(limit: str, message: str, *, retry_after: float | None = None) -> dict[str, object]:
    """The formatted GraphQL error for a limit (extensions.limit names it)."""
    extensions: dict[str, object] = {"code": "LIMIT_EXCEEDED", "limit": limit}
    if retry_after is not None:
        extensions["retryAfter"] = retry_seconds(retry_after)
    return {"message": message, "extensions": extensions}


def limit_body(limit: str, message: str, *, retry_after: float | None = None) -> bytes:
    """A GraphQL response body with that one error."""
    return orjson.dumps({"errors": [limit_error(limit, message, retry_after=retry_after)]})


def retry_seconds(retry_after: float) -> int:
    """Retry-After in whole seconds, at least 1 (the header takes integers only)."""
    return max(1, math.ceil(retry_after))


async def send_limit_response(
    send: Send,
    status: int,
    limit: str,
    message: str,
    *,
    close: bool = False,
    retry_after: float | None = None,
) -> None:
    """Answer an ASGI HTTP request with the refusal."""
    body = limit_body(limit, message, retry_after=retry_after)
    headers = [(b"content-type", JSON.encode()), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_seconds(retry_after)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def raw_limit_response(status: int, limit: str, message: str) -> bytes:
    """The whole HTTP/1.1 response, for a refusal made before any ASGI app runs; the connection closes."""
    body = limit_body(limit, message)
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        f"content-type: {JSON}\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body
