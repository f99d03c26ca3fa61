"""Differential tests: the compiled order mutations answer and write exactly as strawberry's road.

Sequences of createOrder, addOrderItem, shipOrder and cancelOrder with generated inputs (valid
ones, and every kind of invalid value: wrong types, nulls, unknown keys, bad ids, text with NUL
or unpaired surrogates, quantities and prices out of range, another customer, a missing or
reused commandId, a wrong expectedVersion, an existing orderId) run as staff, as customers, as
a principal without roles and with auth off. Each sequence runs twice, on two databases copied
from one template, with the same ids and clock: once on the served schema (the compiled road
for every repeated document) and once on the schema without it (strawberry's road only). The
responses must be equal (data, and every error's message, path, locations and code), and so
must the events and command records both databases hold afterwards.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.requests import Request
from strawberry.types import ExecutionResult

from resolvers.compiled_mutations import CompiledMutations
from resolvers.graphql_schema import OrderlySchema, build_schema
from schema.context import Context
from schema.loaders import build_loaders
from schema.principal import OPEN, Principal, Role
from tests.api.operations import ADD_ITEM, CANCEL, CREATE, SHIP, order_input
from tests.conftest import fresh_database_url
from tests.support.server import RunningServer, running_server, server_settings

COMPILED = build_schema()
STRAWBERRY = build_schema(compiled=False)
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
FIRST, SECOND = "cust-first", "cust-second"
DOCUMENTS = {"create": CREATE, "add": ADD_ITEM, "ship": SHIP, "cancel": CANCEL}
ALIASED = (
    "mutation Aliased($in: CreateOrderInput!) { made: createOrder(input: $in) { id: orderId __typename v: version version } }"
)


class FixedClock:
    def now(self) -> datetime:
        return NOW


def post_request() -> Request:
    return Request({"type": "http", "method": "POST", "path": "/graphql", "headers": [], "query_string": b""})


def _response(result: ExecutionResult) -> dict[str, Any]:
    response: dict[str, Any] = {"data": result.data}
    if result.errors:
        response["errors"] = [error.formatted for error in result.errors]
    return response


async def run(
    schema: OrderlySchema, server: RunningServer, principal: Principal, text: str, variables: dict[str, Any], ids: Iterator[str]
) -> dict[str, Any]:
    """As the view runs a POSTed operation: the compiled road first, strawberry's otherwise."""
    services = server.container.services
    assert services is not None
    services = dataclasses.replace(services, new_id=lambda: next(ids), clock=FixedClock())
    context = Context(
        services=services, loaders=build_loaders(services.customers, cache=True), principal=principal, request=post_request()
    )
    result = await schema.execute_compiled(text, variables, context, None, None)
    if result is None:
        result = await schema.execute(text, variable_values=variables, context_value=context)
    return _response(result)


# Values: mostly valid, often not.
def ids(valid: str, typed: bool = False) -> st.SearchStrategy[Any]:
    texts = st.one_of(st.just(valid), st.just(valid), st.just(valid),
                      st.sampled_from(["", "   ", "x" * 101, "a\x00b", "a\ud800", "ok-id", "É-ü"]))
    return texts if typed else st.one_of(texts, st.integers(-3, 3), st.none())


QUANTITIES = st.one_of(st.integers(1, 5), st.integers(-2, 0), st.sampled_from([2**31, 1000, 1.0, 2.5, "2", True, None]))
PRICES = st.one_of(
    st.sampled_from(["12.50", "0", "-0", "0.0001", "9.99", "-1", "1e3", "abc", "1000000.00", "99999999", "1.00001", ""]),
    st.integers(0, 3), st.just(None),
)
TEXTS = st.one_of(st.sampled_from(["1 Main St", "Springfield", "US", "12345", "changed my mind"]),
                  st.text(max_size=4), st.just("a\x00"), st.integers(0, 1), st.none())
# Values of the right JSON type (graphql-core takes them; ValidInput and the domain judge them):
# examples made of these run on the compiled road from their first repeated document on.
TYPED = {
    "quantity": st.integers(-2, 1_000_001),
    "price": st.sampled_from(["12.50", "0", "-0", "0.0001", "9.99", "-1", "1e3", "abc", "1000000.00", "99999999", "1.00001"]),
    "text": st.one_of(st.sampled_from(["1 Main St", "Springfield", "US", "12345", "changed my mind"]), st.text(max_size=4)),
}


@st.composite
def maybe_extra(draw: st.DrawFn, value: dict[str, Any], typed: bool = False) -> Any:
    """The object, sometimes with a key left out, an unknown key, or not an object at all."""
    choice = "as is" if typed else draw(st.sampled_from(["as is"] * 8 + ["drop", "unknown", "list", "string"]))
    if choice == "drop" and value:
        value.pop(draw(st.sampled_from(sorted(value))))
    elif choice == "unknown":
        value["surprise"] = 1
    elif choice == "list":
        return [value]
    elif choice == "string":
        return "{}"
    return value


@st.composite
def items(draw: st.DrawFn, typed: bool) -> Any:
    quantities, prices = (TYPED["quantity"], TYPED["price"]) if typed else (QUANTITIES, PRICES)
    lines = [
        draw(maybe_extra(
            {"productId": draw(ids("espresso-beans", typed)), "quantity": draw(quantities), "price": draw(prices)}, typed
        ))
        for _ in range(draw(st.integers(0, 3)))
    ]
    shape = "list" if typed else draw(st.sampled_from(["list"] * 8 + ["single", "null"]))
    return lines if shape == "list" else (lines[0] if lines and shape == "single" else None)


@st.composite
def address(draw: st.DrawFn, typed: bool) -> Any:
    texts = TYPED["text"] if typed else TEXTS
    value = {"line1": draw(texts), "city": draw(texts), "postalCode": draw(texts), "country": draw(texts)}
    if draw(st.booleans()):
        value["line2"] = draw(texts)
    return draw(maybe_extra(value, typed))


@st.composite
def steps(draw: st.DrawFn) -> list[tuple[str, str, Any]]:
    """1 to 4 mutations (kind, who, input); ids with `{n}` are this example's, `@k` the k-th order made.
    Half the examples hold values of the right JSON types only."""
    result: list[tuple[str, str, Any]] = []
    typed = draw(st.booleans())
    for index in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["create", "create", "create", "add", "ship", "cancel"]))
        who = draw(st.sampled_from(["staff", "first", "first", "second", "nobody", "open"]))
        command_id = draw(st.one_of(st.none(), st.sampled_from(["cmd-0", "cmd-1", f"cmd-{index}"]), ids("cmd-x", typed)))
        order = draw(st.one_of(st.sampled_from(["@0", "@1", "@last"]), ids("@0", typed)))
        version = draw(st.one_of(st.none(), st.integers(-1, 3)))
        if kind == "create":
            value = {
                "customerId": draw(st.one_of(st.just(FIRST), st.just(SECOND), ids(FIRST, typed))),
                "items": draw(items(typed)),
                "shippingAddress": draw(address(typed)),
            }
            if draw(st.booleans()):
                value["orderId"] = draw(st.one_of(st.just("@new"), st.just("@NEW"), st.just("@0"), ids("not-a-uuid", typed)))
        elif kind == "add":
            value = {"orderId": order, "productId": draw(ids("filter-papers", typed)),
                     "quantity": draw(TYPED["quantity"] if typed else QUANTITIES),
                     "price": draw(TYPED["price"] if typed else PRICES), "expectedVersion": version}
        elif kind == "ship":
            value = {"orderId": order, "expectedVersion": version}
        else:
            value = {"orderId": order, "reason": draw(TYPED["text"] if typed else TEXTS), "expectedVersion": version}
        if command_id is not None:
            value["commandId"] = command_id
        if not typed and draw(st.integers(0, 9)) == 0:
            value = draw(maybe_extra(value))
        if not typed and draw(st.integers(0, 29)) == 0:
            value = None
        result.append((kind, who, value))
    return result


def principal(who: str) -> Principal:
    if who == "open":
        return OPEN
    if who == "nobody":
        return Principal(subject="nobody", roles=frozenset())
    if who == "staff":
        return Principal(subject="staff-1", roles=frozenset({Role.STAFF}))
    customer = FIRST if who == "first" else SECOND
    return Principal(subject=customer, roles=frozenset({Role.CUSTOMER}), customer_id=customer)


PLACEHOLDER = re.compile(r"@(last|[0-9]+)")  # generated text may start with "@" too


def resolve(value: Any, prefix: str, made: list[str]) -> Any:
    """The example's own ids in place of the placeholders (both roads get the same)."""
    if isinstance(value, dict):
        return {key: resolve(inner, prefix, made) for key, inner in value.items()}
    if isinstance(value, list):
        return [resolve(inner, prefix, made) for inner in value]
    if value == "@new":
        return str(uuid.uuid5(uuid.NAMESPACE_URL, prefix))
    if value == "@NEW":
        return str(uuid.uuid5(uuid.NAMESPACE_URL, prefix + "upper")).upper()
    if isinstance(value, str) and PLACEHOLDER.fullmatch(value):
        position = -1 if value == "@last" else int(value[1:])
        return made[position] if made and len(made) > abs(position) - (position < 0) else f"{prefix}-missing"
    if isinstance(value, str) and value.startswith("cmd-"):
        return f"{prefix}-{value}"
    return value


@pytest.fixture
async def twins(
    backend: str, database_template: Path | str, tmp_path: Path
) -> AsyncIterator[tuple[RunningServer, RunningServer]]:
    """Two servers (no projectors) on two copies of one template: one per road."""
    async with AsyncExitStack() as stack:
        servers = []
        for road in ("compiled", "strawberry"):
            (tmp_path / road).mkdir()
            url = await stack.enter_async_context(fresh_database_url(backend, database_template, tmp_path / road))
            servers.append(await stack.enter_async_context(running_server(server_settings(url, run_projectors=False))))
        yield servers[0], servers[1]


async def written(server: RunningServer) -> tuple[list[Any], list[Any]]:
    """The events and the command records a database holds."""
    engine = server.container.database.engine
    async with engine.connect() as connection:
        events = (await connection.execute(sa.text(
            "SELECT position, stream_id, stream_type, version, type_name, schema_version, data, occurred_at, command_id "
            "FROM events ORDER BY position"
        ))).all()
        commands = (await connection.execute(sa.text(
            "SELECT command_id, command_type, fingerprint, stream_id, version, position FROM commands ORDER BY command_id"
        ))).all()
    return [tuple(row) for row in events], [tuple(row) for row in commands]


_examples = itertools.count()


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
async def test_compiled_mutations_answer_and_write_as_strawberrys_road(
    twins: tuple[RunningServer, RunningServer], data: st.DataObject
) -> None:
    compiled_server, strawberry_server = twins
    prefix = f"ex{next(_examples)}-{uuid.uuid4().hex[:6]}"
    made: dict[str, list[str]] = {"compiled": [], "strawberry": []}
    id_streams = {road: (f"{prefix}-gen-{n}" for n in itertools.count()) for road in made}
    for kind, who, value in data.draw(steps()):
        text = DOCUMENTS[kind]
        variables = {"input": resolve(value, prefix, made["compiled"])}
        answers = {}
        for road, schema, server in (("compiled", COMPILED, compiled_server), ("strawberry", STRAWBERRY, strawberry_server)):
            answers[road] = await run(schema, server, principal(who), text, variables, id_streams[road])
            result = (answers[road].get("data") or {}).get({"create": "createOrder"}.get(kind, ""))
            if result is not None:
                made[road].append(result["orderId"])
        assert answers["compiled"] == answers["strawberry"], (text, variables)
    assert await written(compiled_server) == await written(strawberry_server)


async def test_a_repeated_mutation_takes_the_compiled_road(twins: tuple[RunningServer, RunningServer]) -> None:
    server, _ = twins
    generated = (f"gen-{n}" for n in itertools.count())
    marker = uuid.uuid4()
    create = f"{CREATE} # {marker}"  # a document this schema has not seen yet
    before = CompiledMutations.taken
    first = await run(COMPILED, server, OPEN, create, {"input": order_input(FIRST)}, generated)  # parsed and validated
    assert CompiledMutations.taken == before
    second = await run(COMPILED, server, OPEN, create, {"input": order_input(FIRST)}, generated)
    assert CompiledMutations.taken == before + 1
    assert second["data"]["createOrder"]["version"] == 1
    assert second["data"]["createOrder"]["position"] == first["data"]["createOrder"]["position"] + 1
    value = order_input(FIRST)
    for _ in range(2):
        variables = {"in": value | {"commandId": "aliased-1"}}
        aliased = await run(COMPILED, server, OPEN, f"{ALIASED} # {marker}", variables, generated)
    assert list(aliased["data"]["made"]) == ["id", "__typename", "v", "version"]
    assert aliased["data"]["made"]["__typename"] == "CommandResult"
    assert CompiledMutations.taken == before + 2
