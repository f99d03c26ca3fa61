"""What a well-formed client message is, in each WebSocket protocol; a problem is a sentence.

graphql-transport-ws follows the graphql-ws library's own `validateMessage`; the legacy
graphql-ws protocol (subscriptions-transport-ws) is checked the same way for the messages it
has. strawberry reads fields by key and would raise on anything else.
"""

from __future__ import annotations

from collections.abc import Mapping


def transport_message_problem(message: object) -> str | None:
    """Why a graphql-transport-ws client message is malformed, or None when it is fine."""
    if not isinstance(message, dict):
        return f"Message is expected to be an object, but got {_kind(message)}"
    kind = message.get("type")
    if not isinstance(kind, str):
        return "Message is missing the 'type' property"
    if kind in {"connection_init", "ping", "pong"}:
        payload = message.get("payload")
        if payload is not None and not isinstance(payload, dict):
            return f"\"{kind}\" message expects the 'payload' property to be an object or nullish or missing"
    elif kind in {"subscribe", "complete"}:
        identifier = message.get("id")
        if not isinstance(identifier, str) or not identifier:
            return f"\"{kind}\" message requires a non-empty 'id' property"
        if kind == "subscribe":
            return _payload_problem(kind, message.get("payload"))
    return None


def legacy_message_problem(message: Mapping[str, object]) -> str | None:
    """Why a legacy graphql-ws message (already known to be an object) is malformed, or None."""
    kind = message.get("type")
    if not isinstance(kind, str):
        return "Message is missing the 'type' property"
    if kind not in {"connection_init", "connection_terminate", "start", "stop"}:
        return f"Invalid message type: {kind!r}"
    if kind in {"start", "stop"} and not (isinstance(message.get("id"), str) and message.get("id")):
        return f"\"{kind}\" message requires a non-empty 'id' property"
    if kind == "start":
        return _payload_problem(kind, message.get("payload"))
    return None


def _payload_problem(kind: str, payload: object) -> str | None:
    if not isinstance(payload, dict):
        return f"\"{kind}\" message expects the 'payload' property to be an object"
    query, extensions = payload.get("query"), payload.get("extensions")
    by_hash = query is None and isinstance(extensions, dict) and "persistedQuery" in extensions
    if not isinstance(query, str) and not by_hash:
        return f"\"{kind}\" message payload expects the 'query' property to be a string"
    if not isinstance(payload.get("variables"), dict | None):
        return f"\"{kind}\" message payload expects the 'variables' property to be an object or nullish or missing"
    if not isinstance(payload.get("operationName"), str | None):
        return f"\"{kind}\" message payload expects the 'operationName' property to be a string or nullish or missing"
    if not isinstance(payload.get("extensions"), dict | None):
        return f"\"{kind}\" message payload expects the 'extensions' property to be an object or nullish or missing"
    return None


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, list):
        return "array"
    return {bool: "boolean", int: "number", float: "number", str: "string"}.get(type(value), type(value).__name__)
