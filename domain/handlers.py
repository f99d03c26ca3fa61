"""Command handlers: load the stream, fold, decide, append with the expected version."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from decimal import Decimal
from functools import cache
from json.encoder import encode_basestring_ascii  # json.dumps' own (C) function
from typing import cast

from domain.commands import Command, CreateOrder
from domain.decider import INITIAL_STATE, as_seen_by, decide, fold
from domain.errors import CommandIdReusedError, ConcurrencyConflictError, DuplicateCommandError
from domain.issuers import command_key
from domain.ports import AppendResult, CommandRecord, CommandStamp, EventStore

ORDER_STREAM = "order"
# Without a client-given expectedVersion a conflict only means another writer got there
# first: decide again on the newer state, a few times, before giving up.
MAX_ATTEMPTS = 5
# The issuer is left out so that commands stored before issuers existed keep their digest.
_NOT_FINGERPRINTED = ("command_id", "issued_at", "issuer")


def fingerprint(command: Command) -> str:
    """A digest of what the command asks for (not its id, timestamp or issuer, which the key holds)."""
    try:
        canonical = canonical_json(command)
    except _Unlisted:
        canonical = json.dumps([type(command).__name__, _fields(command)], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def canonical_json(command: Command) -> str:
    """`json.dumps([type name, fields], sort_keys=True, default=str)` of the command, character for
    character, written out directly (a quarter of the time); _Unlisted for a value it does not know.

    Stored fingerprints were made by that call, and a retried command must still match them
    (tests/domain/test_fingerprint.py compares the two on generated commands).
    """
    parts = ["[", encode_basestring_ascii(type(command).__name__), ", "]
    _encode_object(command, _fingerprinted_names(cast(type, type(command))), parts)
    parts.append("]")
    return "".join(parts)


class _Unlisted(Exception):  # noqa: N818 - a signal: json.dumps encodes this command
    """A value canonical_json does not write itself."""


def _fields(command: Command) -> dict[str, object]:
    return {
        field.name: _plain(getattr(command, field.name))
        for field in dataclasses.fields(command)
        if field.name not in _NOT_FINGERPRINTED
    }


def _plain(value: object) -> object:
    # dataclasses.asdict without its deep copies (a quarter of a command's CPU here).
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: _plain(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    return value


@cache
def _fingerprinted_names(cls: type) -> tuple[tuple[str, str], ...]:
    """(field name, its JSON key and separator) of a command, in sorted order, without the key's fields."""
    names = sorted(field.name for field in dataclasses.fields(cls) if field.name not in _NOT_FINGERPRINTED)
    return tuple((name, encode_basestring_ascii(name) + ": ") for name in names)


@cache
def _value_names(cls: type) -> tuple[tuple[str, str], ...]:
    names = sorted(field.name for field in dataclasses.fields(cls))
    return tuple((name, encode_basestring_ascii(name) + ": ") for name in names)


def _encode_object(value: object, names: tuple[tuple[str, str], ...], parts: list[str]) -> None:
    parts.append("{")
    first = True
    for name, key in names:
        if not first:
            parts.append(", ")
        first = False
        parts.append(key)
        _encode(getattr(value, name), parts)
    parts.append("}")


def _encode(value: object, parts: list[str]) -> None:
    # Exact types only: a subclass (an enum, a str or int subtype) may encode otherwise.
    kind = type(value)
    if kind is str:
        parts.append(encode_basestring_ascii(cast(str, value)))
    elif kind is int:
        parts.append(int.__repr__(cast(int, value)))
    elif value is None:
        parts.append("null")
    elif kind is bool:
        parts.append("true" if value else "false")
    elif kind is Decimal:
        parts.append(encode_basestring_ascii(str(value)))  # default=str
    elif kind is tuple or kind is list:
        parts.append("[")
        for index, item in enumerate(cast(tuple[object, ...], value)):
            if index:
                parts.append(", ")
            _encode(item, parts)
        parts.append("]")
    elif dataclasses.is_dataclass(kind):
        _encode_object(value, _value_names(kind), parts)
    else:
        raise _Unlisted


async def handle_order_command(command: Command, store: EventStore) -> AppendResult:
    """Run one order command to its result; a repeated command id (of the same issuer) returns the first result.

    Another customer's order looks to its issuer exactly like a missing one (see as_seen_by).
    """
    stamp = CommandStamp(
        command_id=command_key(command.command_id, command.issuer),
        command_type=type(command).__name__,
        fingerprint=fingerprint(command),
    )
    # A CreateOrder starts a new stream: nothing to load, and a twin (same command id) or an
    # existing order is caught by the append's conflict below, so it costs one round trip.
    # Other commands look for a twin first: replaying must win over the state rules.
    creates = isinstance(command, CreateOrder)
    if not creates:
        previous = await store.find_command(stamp.command_id)
        if previous is not None:
            return _replay(previous, stamp, command)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        if creates:
            state = INITIAL_STATE
        else:
            # read_stream raises on an event this code cannot decode; decoded() says so to mypy.
            history = await store.read_stream(command.order_id)
            state = as_seen_by(command.issuer, fold(recorded.decoded() for recorded in history))
        expected = getattr(command, "expected_version", None)
        if expected is not None and expected != state.version:
            raise ConcurrencyConflictError(command.order_id, expected=expected, actual=state.version)
        events = decide(command, state)
        try:
            return await store.append(
                command.order_id, ORDER_STREAM, events, expected_version=state.version, command=stamp
            )
        except DuplicateCommandError:
            twin = await store.find_command(stamp.command_id)
            if twin is None:
                raise
            return _replay(twin, stamp, command)
        except ConcurrencyConflictError:
            twin = await store.find_command(stamp.command_id)
            if twin is not None:
                return _replay(twin, stamp, command)
            if expected is not None or attempt == MAX_ATTEMPTS or state.version == 0:
                raise
    raise AssertionError("unreachable")


def _replay(previous: CommandRecord, stamp: CommandStamp, command: Command) -> AppendResult:
    if previous.fingerprint != stamp.fingerprint:
        raise CommandIdReusedError(command.command_id)
    return previous.result
