"""Command handlers: load the stream, fold, decide, append with the expected version."""

from __future__ import annotations

import dataclasses
import hashlib
import json

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
    fields = {
        field.name: _plain(getattr(command, field.name))
        for field in dataclasses.fields(command)
        if field.name not in _NOT_FINGERPRINTED
    }
    canonical = json.dumps([type(command).__name__, fields], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _plain(value: object) -> object:
    # dataclasses.asdict without its deep copies (a quarter of a command's CPU here).
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: _plain(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    return value


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
