"""WebSocket /graphql: text frames only, and an answer to every malformed client message.

A browser's WebSocket hands a binary frame over as a Blob, which the npm graphql-ws client
(GraphiQL, Apollo, urql) cannot read ("Message is missing the 'type' property"), so every
message goes out as a text frame whatever `encode_json` returns. strawberry's handlers read
client messages by key and raise on anything but the expected shape (a traceback and a socket
dropped without a close frame); here a malformed message gets the protocol's answer instead:
graphql-transport-ws closes with 4400 and a reason, as the graphql-ws library does; the legacy
graphql-ws protocol sends `error` (for an operation) or `connection_error` and then closes.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from typing import Any, cast

from graphql import GraphQLError
from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import NonJsonMessageReceived, NonTextMessageReceived, WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import OperationMessage

from orderly.websocket_messages import legacy_message_problem, transport_message_problem
from schema.context import Context

BAD_REQUEST = 4400  # graphql-ws's CloseCode.BadRequest, used for both protocols
SUBSCRIPTION_LIMIT = "subscriptionsPerConnection"
_MAX_CLOSE_REASON = 123  # bytes: RFC 6455 leaves 123 of a close frame's 125 for the reason
_NOT_TEXT = "WebSocket message type must be text"
_NOT_JSON = "WebSocket message must be valid JSON"


class TextFrameAdapter(ASGIWebSocketAdapter):
    """strawberry's Starlette adapter, sending text frames and telling binary frames apart safely."""

    async def iter_json(self, *, ignore_parsing_errors: bool = False) -> AsyncGenerator[object, None]:
        """Each client message decoded; a binary frame is NonTextMessageReceived, bad JSON NonJsonMessageReceived."""
        while self.ws.application_state != WebSocketState.DISCONNECTED:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                raise NonTextMessageReceived
            try:
                yield self.view.decode_json(text)
            except ValueError as error:  # orjson's and json's JSONDecodeError both are ValueErrors
                if not ignore_parsing_errors:
                    raise NonJsonMessageReceived from error

    async def send_json(self, message: Mapping[str, object]) -> None:
        """Send one message as a text frame, however the view encodes JSON."""
        if self.ws.application_state == WebSocketState.DISCONNECTED:
            raise WebSocketDisconnected  # closed already: the operation ends quietly
        try:
            await self.ws.send_text(self.view.encode_json_string(message))
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc

    async def close(self, code: int, reason: str) -> None:
        """Close once, with a reason short enough for a close frame."""
        if self.ws.application_state != WebSocketState.DISCONNECTED:
            await self.ws.close(code=code, reason=_close_reason(reason))


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws: malformed messages close with 4400; request errors are `error` messages."""

    async def handle_message(self, message: Any) -> None:
        """Refuse a malformed message before strawberry reads it by key."""
        problem = transport_message_problem(message)
        if problem is not None:
            await self.handle_invalid_message(problem)
            return
        await super().handle_message(message)

    async def handle_subscribe(self, message: Any) -> None:
        """strawberry's subscribe, with the operation limit answered as LIMIT_EXCEEDED."""
        limit = self.max_subscriptions_per_connection
        if (
            self.connection_acknowledged
            and message["id"] not in self.operations
            and limit is not None
            and len(self.operations) >= limit
        ):
            error = limit_error(limit)
            await self.websocket.send_json({"id": message["id"], "type": "error", "payload": [error]})
            return
        await super().handle_subscribe(message)

    @staticmethod
    def _get_pre_execution_close_reason(error: GraphQLError) -> str | None:
        # strawberry closes the whole socket for a syntax error or an undeterminable
        # operation; like a validation error, each is that operation's `error` message.
        return None


class LegacyWSHandler(BaseGraphQLWSHandler[Context, None]):
    """Legacy graphql-ws: a malformed operation gets `error`; a frame that is not a JSON object
    gets `connection_error` and a close."""

    async def handle(self) -> None:
        """strawberry's loop, answering frames that are not JSON text instead of ignoring them."""
        try:
            try:
                async for message in self.websocket.iter_json():
                    await self.handle_message(message)
            except NonTextMessageReceived:
                await self.refuse_connection(_NOT_TEXT)
            except NonJsonMessageReceived:
                await self.refuse_connection(_NOT_JSON)
        except WebSocketDisconnected:
            pass
        finally:
            if self.keep_alive_task:
                self.keep_alive_task.cancel()
                try:
                    await self.keep_alive_task
                except BaseException:  # noqa: BLE001 - the keep-alive task's end is of no interest
                    pass
            await self.cleanup()

    async def handle_message(self, message: Any) -> None:
        """Answer a malformed message before strawberry reads it by key."""
        if not isinstance(message, dict):
            await self.refuse_connection("Message must be a JSON object")
            return
        problem = legacy_message_problem(message)
        if problem is not None:
            error: dict[str, object] = {"type": "error", "payload": bad_user_input(problem)}
            if isinstance(message.get("id"), str):
                error["id"] = message["id"]
            await self.websocket.send_json(error)
            return
        await super().handle_message(cast(OperationMessage, message))

    async def handle_start(self, message: Any) -> None:
        """strawberry's start, with the operation limit answered as LIMIT_EXCEEDED."""
        limit = self.max_subscriptions_per_connection
        operation_id = message["id"]
        if (
            self.connection_acknowledged
            and operation_id not in self.tasks
            and limit is not None
            and len(self.tasks) >= limit
        ):
            await self.websocket.send_json({"type": "error", "id": operation_id, "payload": limit_error(limit)})
            return
        await super().handle_start(message)

    async def refuse_connection(self, reason: str) -> None:
        """Tell the client what was wrong, then close the connection."""
        await self.websocket.send_json({"type": "connection_error", "payload": bad_user_input(reason)})
        await self.websocket.close(BAD_REQUEST, reason)


def bad_user_input(message: str) -> dict[str, object]:
    """A formatted GraphQL error for a malformed client message."""
    return {"message": message, "extensions": {"code": "BAD_USER_INPUT"}}


def limit_error(limit: int) -> dict[str, object]:
    """The formatted error for one operation too many on a connection."""
    return {
        "message": f"Subscription limit reached: at most {limit} operations at a time on one connection",
        "extensions": {"code": "LIMIT_EXCEEDED", "limit": SUBSCRIPTION_LIMIT},
    }


def _close_reason(reason: str) -> str:
    encoded = reason.encode()
    if len(encoded) <= _MAX_CLOSE_REASON:
        return reason
    return encoded[: _MAX_CLOSE_REASON - 3].decode(errors="ignore") + "..."
