"""WebSocket /graphql: text frames only, and an answer to every malformed client message.

A browser's WebSocket hands a binary frame over as a Blob, which the npm graphql-ws client
(GraphiQL, Apollo, urql) cannot read ("Message is missing the 'type' property"), so every
message goes out as a text frame whatever `encode_json` returns. strawberry's handlers read
client messages by key and raise on anything but the expected shape (a traceback and a socket
dropped without a close frame); here a malformed message gets the protocol's answer instead:
graphql-transport-ws closes with 4400 and a reason, as the graphql-ws library does; the legacy
graphql-ws protocol sends `error` (for an operation) or `connection_error` and then closes.

Limits: both protocols close a socket without connection_init in time (strawberry does it for
graphql-transport-ws; here for the legacy protocol, which strawberry leaves open forever), and
each new operation passes the per-connection limit, then the process's OperationGate
(orderly/socket_limits.py: operations per principal across sockets, the rate limit).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Mapping, Sized
from typing import Any, cast

from graphql import GraphQLError
from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import NonJsonMessageReceived, NonTextMessageReceived, WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    _OperationStreamClosed,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import OperationMessage
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError

from orderly.auth.connection import expired_error, stop_watching, token_expired, watch_expiry
from orderly.compact_projected import ProjectedOperation
from orderly.compact_subscriptions import CompactOperation, handed_over_key, release
from orderly.limit_responses import limit_error as named_limit_error
from orderly.persisted_queries import PersistedQueryRefusal
from orderly.rate_limit import principal_key
from orderly.socket_limits import OperationGate
from orderly.websocket_messages import legacy_message_problem, transport_message_problem
from resolvers.compiled_objects import ROOT_RENDERED, current_document
from resolvers.projected_handoff import handed_over_wait
from resolvers.update_handoff import HANDOFF, Handoff
from schema.context import Context

BAD_REQUEST = 4400  # graphql-ws's CloseCode.BadRequest, used for both protocols
SUBSCRIPTION_LIMIT = "subscriptionsPerConnection"
INIT_TIMEOUT = "wsInitTimeout"
INIT_TIMEOUT_CLOSE = 4408  # graphql-ws's CloseCode.ConnectionInitialisationTimeout
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


class GatedOperations:
    """Both handlers: each new operation passes the process's OperationGate (operations per
    principal over all sockets, the rate limit), which the app puts on the view."""

    view: Any
    context: Context
    websocket: Any
    connection_acknowledged: bool
    _gate_key: str | None = None

    async def operation_refusal(self, running: Sized) -> dict[str, object] | None:
        """The LIMIT_EXCEEDED error refusing a new operation, or None; `running` is this socket's operation table."""
        gate: OperationGate | None = getattr(self.view, "operation_gate", None)
        if gate is None:
            return None
        key = principal_key(self.context.principal, self.websocket.ws.scope.get("client"))
        if key != self._gate_key:  # the first operation after connection_init fixed the principal
            self.release_operation_gate()
            gate.limits.register(key, id(self), running)
            self._gate_key = key
        return await gate.refusal(key)

    async def with_persisted_text(self, message: Any) -> Any:
        """The subscribe (start) message with the text its persisted-query extension names (the view's
        rules, orderly/persisted_queries.py); raises PersistedQueryRefusal. Over a socket a text sent
        with its hash runs but is not stored: clients register documents over HTTP."""
        persisted = getattr(self.view, "persisted_queries", None)
        if persisted is None or not self.connection_acknowledged:
            return message  # not yet authenticated: strawberry refuses the operation
        payload = message["payload"]
        resolved = await persisted.resolve(payload.get("query"), payload.get("extensions"), self.context.principal)
        return {**message, "payload": {**payload, "query": resolved.text}}

    def offer_handoff(self) -> Handoff | None:
        """A handoff for the operation this task runs (read by the orderUpdated resolver and the metrics),
        when the view hands subscriptions over (orderly/compact_subscriptions.py)."""
        if not getattr(self.view, "compact_subscriptions", False):
            return None
        handoff = Handoff()
        HANDOFF.set(handoff)
        ROOT_RENDERED.set(handoff.note_root_renderer)
        return handoff

    def release_operation_gate(self) -> None:
        """The socket is closing: its operations stop counting for its principal."""
        gate: OperationGate | None = getattr(self.view, "operation_gate", None)
        if gate is not None and self._gate_key is not None:
            gate.limits.unregister(self._gate_key, id(self))
            self._gate_key = None


class TransportWSHandler(GatedOperations, BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws: malformed messages close with 4400; request errors are `error` messages."""

    async def handle(self) -> None:
        """strawberry's loop; the socket's operations stop counting when it ends."""
        try:
            await super().handle()
        finally:
            self.release_operation_gate()

    async def handle_message(self, message: Any) -> None:
        """Refuse a malformed message before strawberry reads it by key."""
        problem = transport_message_problem(message)
        if problem is not None:
            await self.handle_invalid_message(problem)
            return
        await super().handle_message(message)

    async def handle_connection_init(self, message: Any) -> None:
        """strawberry's init (the view's on_ws_connect authenticates), then a watch on the token's expiry."""
        await super().handle_connection_init(message)
        if self.connection_acknowledged:
            watch_expiry(self.context, self.end_operations_on_expiry)

    async def end_operations_on_expiry(self) -> None:
        """The token expired: each running operation ends with an UNAUTHENTICATED `error`."""
        for operation in list(self.operations.values()):
            if operation.task is not None:
                operation.task.cancel()
            error: Any = {"id": operation.id, "type": "error", "payload": [expired_error()]}
            await operation.send_operation_message(error)

    async def shutdown(self) -> None:
        """strawberry's shutdown, and the expiry watch's."""
        await stop_watching(self.context)
        await super().shutdown()

    async def handle_subscribe(self, message: Any) -> None:
        """strawberry's subscribe, with the operation limit answered as LIMIT_EXCEEDED."""
        if self.connection_acknowledged and token_expired(self.context):
            await self.websocket.send_json({"id": message["id"], "type": "error", "payload": [expired_error()]})
            return
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
        if self.connection_acknowledged and message["id"] not in self.operations:
            refusal = await self.operation_refusal(self.operations)
            if refusal is not None:
                await self.websocket.send_json({"id": message["id"], "type": "error", "payload": [refusal]})
                return
        try:
            message = await self.with_persisted_text(message)
        except PersistedQueryRefusal as persisted_refusal:
            await self.websocket.send_json({"id": message["id"], "type": "error", "payload": [persisted_refusal.error()]})
            return
        await super().handle_subscribe(message)

    async def run_operation(self, operation: Any) -> None:
        """strawberry's, offering the operation a handoff after its first result (orderly/compact_subscriptions.py)."""
        handoff = self.offer_handoff()
        if handoff is None:
            await super().run_operation(operation)
            return
        try:
            await super().run_operation(operation)
        finally:
            entry = self.operations.get(operation.id)
            if handoff.accepted and not (isinstance(entry, CompactOperation) and entry.handoff is handoff):
                release(handoff)  # stopped while it was being handed over

    async def _send_result_stream(self, operation: Any, result_source: Any) -> None:
        """strawberry's loop; after the first result of a subscription that can be handed over,
        the operation's entry becomes a CompactOperation and strawberry's stream ends without `complete`."""
        handoff = HANDOFF.get()
        is_first_result = True
        key = None
        async for result in result_source:
            if is_first_result and isinstance(result, PreExecutionError):
                await self._handle_pre_execution_error(operation, result)
                return
            if not isinstance(result, ExecutionResult):
                await self._reject_incremental_delivery(operation)
                return
            await operation.send_next(result)
            if is_first_result and handoff is not None and self._runs(operation):
                key = handed_over_key(handoff, result)
                handoff.accepted = key is not None
            is_first_result = False
        if handoff is not None and handoff.accepted and self._runs(operation):
            request = (operation.query, operation.variables, operation.operation_name)
            compact = taken_over(self, operation.id, handoff, key, request, legacy=False)
            if compact is not None:
                self.operations[operation.id] = compact  # type: ignore[assignment]  # the table holds both kinds
                compact.start()
                raise _OperationStreamClosed  # strawberry's run_operation returns without `complete`

    def _runs(self, operation: Any) -> bool:
        return self.operations.get(operation.id) is operation

    async def cleanup_operation(self, operation_id: str) -> None:
        """strawberry's, for a handed-over operation too (no message: the client asked for the end)."""
        entry = self.operations.get(operation_id)
        if isinstance(entry, CompactOperation):
            del self.operations[operation_id]
            entry.close()
            return
        await super().cleanup_operation(operation_id)

    @staticmethod
    def _get_pre_execution_close_reason(error: GraphQLError) -> str | None:
        # strawberry closes the whole socket for a syntax error or an undeterminable
        # operation; like a validation error, each is that operation's `error` message.
        return None


class LegacyWSHandler(GatedOperations, BaseGraphQLWSHandler[Context, None]):
    """Legacy graphql-ws: a malformed operation gets `error`; a frame that is not a JSON object
    gets `connection_error` and a close."""

    async def handle(self) -> None:
        """strawberry's loop, answering frames that are not JSON text instead of ignoring them,
        and closing a socket that sends no connection_init in time."""
        init_timeout = asyncio.create_task(self.close_without_init())
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
            init_timeout.cancel()
            if self.keep_alive_task:
                self.keep_alive_task.cancel()
                try:
                    await self.keep_alive_task
                except BaseException:  # noqa: BLE001 - the keep-alive task's end is of no interest
                    pass
            await self.cleanup()
            self.release_operation_gate()

    async def close_without_init(self) -> None:
        """The legacy protocol sets no time for connection_init (strawberry waits forever): the
        view's connection_init_wait_timeout, then connection_error and graphql-ws's 4408 close."""
        await asyncio.sleep(self.view.connection_init_wait_timeout.total_seconds())
        if self.connection_acknowledged:
            return
        message = "Connection initialisation timeout"
        try:
            await self.websocket.send_json({"type": "connection_error", "payload": named_limit_error(INIT_TIMEOUT, message)})
            await self.websocket.close(INIT_TIMEOUT_CLOSE, message)
        except WebSocketDisconnected:
            pass

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

    async def handle_connection_init(self, message: Any) -> None:
        """strawberry's init (the view's on_ws_connect authenticates), then a watch on the token's expiry."""
        await super().handle_connection_init(message)
        if self.connection_acknowledged:
            watch_expiry(self.context, self.end_operations_on_expiry)

    async def end_operations_on_expiry(self) -> None:
        """The token expired: each running operation gets an UNAUTHENTICATED `error`, then stops
        (strawberry then sends its `complete`, which legacy clients ignore for an ended operation)."""
        for operation_id in list(self.tasks):
            await self.websocket.send_json({"type": "error", "id": operation_id, "payload": expired_error()})
            await self.cleanup_operation(operation_id)

    async def cleanup(self) -> None:
        """strawberry's cleanup, and the expiry watch's."""
        await stop_watching(self.context)
        await super().cleanup()

    async def handle_start(self, message: Any) -> None:
        """strawberry's start, with the operation limit answered as LIMIT_EXCEEDED."""
        limit = self.max_subscriptions_per_connection
        operation_id = message["id"]
        if self.connection_acknowledged and token_expired(self.context):
            await self.websocket.send_json({"type": "error", "id": operation_id, "payload": expired_error()})
            return
        if self.connection_acknowledged and operation_id not in self.tasks and limit is not None and len(self.tasks) >= limit:
            await self.websocket.send_json({"type": "error", "id": operation_id, "payload": limit_error(limit)})
            return
        if self.connection_acknowledged and operation_id not in self.tasks:
            refusal = await self.operation_refusal(self.tasks)
            if refusal is not None:
                await self.websocket.send_json({"type": "error", "id": operation_id, "payload": refusal})
                return
        try:
            message = await self.with_persisted_text(message)
        except PersistedQueryRefusal as persisted_refusal:
            await self.websocket.send_json({"type": "error", "id": operation_id, "payload": persisted_refusal.error()})
            return
        await super().handle_start(message)

    async def handle_async_results(
        self, operation_id: str, query: str, operation_name: str | None, variables: dict[str, object] | None
    ) -> None:
        """strawberry's, offering the operation a handoff after its first result (orderly/compact_subscriptions.py)."""
        handoff = self.offer_handoff()
        installed = False
        try:
            result_source = await self.schema.subscribe(
                query=query,
                variable_values=variables,
                operation_name=operation_name,
                context_value=self.context,
                root_value=self.root_value,
            )
            self.subscriptions[operation_id] = result_source
            is_first_result = True
            key = None
            async for result in result_source:
                if is_first_result and isinstance(result, PreExecutionError):
                    assert result.errors
                    await self.send_message({"type": "error", "id": operation_id, "payload": result.errors[0].formatted})
                    return
                await self.send_data_message(result, operation_id)
                if is_first_result and handoff is not None and self.tasks.get(operation_id) is asyncio.current_task():
                    key = handed_over_key(handoff, result)
                    handoff.accepted = key is not None
                is_first_result = False
            current = self.tasks.get(operation_id) is asyncio.current_task()
            if handoff is not None and handoff.accepted and current:
                request = (query, variables, operation_name)
                compact = taken_over(self, operation_id, handoff, key, request, legacy=True)
                if compact is not None:
                    self.tasks[operation_id] = compact  # type: ignore[assignment]
                    installed = True
                    compact.start()
                    return
            await self.send_message({"type": "complete", "id": operation_id})
        except asyncio.CancelledError:
            await self.send_message({"type": "complete", "id": operation_id})
        finally:
            self.subscriptions.pop(operation_id, None)
            if not installed:
                if self.tasks.get(operation_id) is asyncio.current_task():
                    self.tasks.pop(operation_id, None)
                if handoff is not None and handoff.accepted:
                    release(handoff)  # stopped while it was being handed over

    async def cleanup_operation(self, operation_id: str) -> None:
        """strawberry's, for a handed-over operation too: it ends with `complete`, as a cancelled one does."""
        entry = self.tasks.get(operation_id)
        if isinstance(entry, CompactOperation):
            del self.tasks[operation_id]
            entry.close()
            try:
                await self.send_message({"type": "complete", "id": operation_id})
            except Exception:  # noqa: BLE001, S110 - a closed socket: as strawberry's cancelled task, nothing to tell
                pass
            return
        await super().cleanup_operation(operation_id)

    async def refuse_connection(self, reason: str) -> None:
        """Tell the client what was wrong, then close the connection."""
        await self.websocket.send_json({"type": "connection_error", "payload": bad_user_input(reason)})
        await self.websocket.close(BAD_REQUEST, reason)


def taken_over(
    handler: Any, operation_id: str, handoff: Handoff, key: str | None, request: tuple[Any, ...], *, legacy: bool
) -> CompactOperation | None:
    """The entry of an operation whose handoff was accepted: an orderUpdated after its first result
    (orderly/compact_subscriptions.py), or an orderProjected whose resolver handed its wait over
    (orderly/compact_projected.py); None when neither holds."""
    if key is not None:
        return CompactOperation(handler, operation_id, handoff, key, request, legacy=legacy)
    if handed_over_wait(handoff) is not None:
        return ProjectedOperation(handler, operation_id, handoff, request, current_document(), legacy=legacy)
    return None


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
