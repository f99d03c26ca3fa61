"""Fuzzing over the served schema: generated queries and mutations, valid and invalid, against a
real `orderly serve` on each backend, with authentication off and on (as a customer, and as a
caller with no role). No answer may be a 5xx or an INTERNAL_SERVER_ERROR, and the server may log
no traceback.

Waits are kept short so that the run stays bounded: a generated waitMs or timeoutMs inside the
accepted range becomes at most WAIT_CAP_MS (values outside it are kept, they are refused at once),
and a minVersion or minPosition without one gets WAIT_CAP_MS.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import graphql
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import from_schema, nodes
from hypothesis_graphql.strategies import Mode

from orderly.auth.tokens import issue_token
from tests.conftest import _admin, _drop_postgres_database, postgres_url_for
from tests.support.processes import ApiProcess

SDL = (Path(__file__).resolve().parents[2] / "schema" / "schema.graphql").read_text()
EXAMPLES = 200
WAIT_CAP_MS = 20
WAIT_ARGUMENTS = {"waitMs", "timeoutMs"}
WAITED_FOR = {"minVersion", "minPosition"}

_texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
CUSTOM_SCALARS = {
    "Decimal": st.one_of(
        st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-10**6, max_value=10**6).map(str),
        st.sampled_from(["NaN", "Infinity", "1e999999999", "-0", "1_000", " 12.5 ", "١٢", "１２", ""]),
        _texts,
    ).map(nodes.String),
    "DateTime": st.one_of(
        st.datetimes(timezones=st.just(UTC)).map(lambda moment: moment.isoformat()),
        st.sampled_from(["2020-01-01T00:00:00", "2020-01-01", "not a date", "2020-13-45T99:99:99Z"]),
        _texts,
    ).map(nodes.String),
    "JSON": _texts.map(nodes.String),
    "Position": st.integers(min_value=-3, max_value=2**60).map(nodes.Int),
}


class _BoundWaits(graphql.Visitor):
    """Shortens accepted waits and gives every wait a short one (see the module docstring)."""

    def enter_field(self, node: graphql.FieldNode, *_: Any) -> graphql.FieldNode | None:
        arguments = list(node.arguments or ())
        names = {argument.name.value for argument in arguments}
        changed = False
        for index, argument in enumerate(arguments):
            value = argument.value
            if argument.name.value in WAIT_ARGUMENTS:
                accepted = isinstance(value, graphql.IntValueNode) and 0 <= int(value.value) <= 10_000
                if accepted or isinstance(value, graphql.NullValueNode):
                    capped = graphql.IntValueNode(value=str(WAIT_CAP_MS))
                    arguments[index] = graphql.ArgumentNode(name=argument.name, value=capped)
                    changed = True
        if names & WAITED_FOR and not names & WAIT_ARGUMENTS:
            wait = "timeoutMs" if node.name.value in {"orderProjected", "projectionCaughtUp"} else "waitMs"
            capped = graphql.IntValueNode(value=str(WAIT_CAP_MS))
            arguments.append(graphql.ArgumentNode(name=graphql.NameNode(value=wait), value=capped))
            changed = True
        if not changed:
            return None
        return graphql.FieldNode(
            alias=node.alias,
            name=node.name,
            arguments=tuple(arguments),
            directives=node.directives,
            selection_set=node.selection_set,
        )


def bounded(document: graphql.DocumentNode) -> str:
    """The document as text, with its waits bounded."""
    return graphql.print_ast(graphql.visit(document, _BoundWaits()))


SECRET = "fuzz-secret-" + "x" * 32
# With authentication on, each generated operation is sent by one of these callers.
CALLERS = {
    "customer": issue_token(SECRET, subject="alice", roles=["customer"], ttl=3600),
    "no role": issue_token(SECRET, subject="mallory", roles=[], ttl=3600),
}


@pytest.fixture(params=["sqlite", "postgres"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """`orderly serve` as a process on a fresh database of each backend, authentication off; its log checked afterwards."""
    yield from _serve(request, tmp_path, {})


@pytest.fixture(params=["sqlite", "postgres"])
def served_with_auth(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """As `served`, with JWT authentication on (HS256)."""
    yield from _serve(request, tmp_path, {"ORDERLY_AUTH_JWT_SECRET": SECRET})


def _serve(request: pytest.FixtureRequest, tmp_path: Path, extra: dict[str, str]) -> Iterator[str]:
    template = request.getfixturevalue(f"{request.param}_template")
    name = f"orderly_t_{uuid.uuid4().hex[:12]}"
    if request.param == "sqlite":
        path = tmp_path / f"{name}.db"
        shutil.copyfile(template, path)
        database_url = f"sqlite:///{path}"
    else:
        asyncio.run(_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        database_url = postgres_url_for(name)
    environment = {"ORDERLY_DATABASE_URL": database_url, "ORDERLY_POLL_INTERVAL": "0.2", **extra}
    server = ApiProcess(environment, tmp_path, "api", projectors=True)
    server.start()
    try:
        server.wait_ready()
        yield server.url
        log = server.log()
        assert "Traceback" not in log and "INTERNAL_SERVER_ERROR" not in log, log[-5000:]
    finally:
        server.stop()
        if request.param == "postgres":
            asyncio.run(_drop_postgres_database(name))


def _documents(mode: Mode) -> st.SearchStrategy[Any]:
    return from_schema(SDL, custom_scalars=CUSTOM_SCALARS, print_ast=lambda document: document, mode=mode)


@pytest.mark.parametrize("mode", [Mode.POSITIVE, Mode.NEGATIVE], ids=["valid", "invalid"])
def test_no_generated_operation_gets_a_server_error(served: str, mode: Mode) -> None:
    _fuzz(served, mode, {}, EXAMPLES)


@pytest.mark.parametrize("caller", sorted(CALLERS))
def test_no_generated_operation_from_an_authenticated_caller_gets_a_server_error(
    served_with_auth: str, caller: str
) -> None:
    _fuzz(served_with_auth, Mode.POSITIVE, {"Authorization": f"Bearer {CALLERS[caller]}"}, EXAMPLES // 2)


def _fuzz(url: str, mode: Mode, headers: dict[str, str], examples: int) -> None:
    with httpx.Client(timeout=30, headers=headers) as client:

        @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(document=_documents(mode))
        def check(document: graphql.DocumentNode) -> None:
            query = bounded(document)
            response = client.post(url, json={"query": query})
            assert response.status_code < 500, (query, response.status_code, response.text[:500])
            body = response.json()
            codes = [error.get("extensions", {}).get("code") for error in body.get("errors") or []]
            assert "INTERNAL_SERVER_ERROR" not in codes, (query, body)
            assert None not in codes, (query, body)

        check()


def test_the_bound_shortens_accepted_waits_and_keeps_refused_ones() -> None:
    document = graphql.parse(
        '{ a: order(orderId: "x", minVersion: 3) { version } '
        'b: order(orderId: "x", minVersion: 1, waitMs: 9000) { version }'
        ' c: order(orderId: "x", minVersion: 1, waitMs: -1) { version }'
        ' d: customerOrders(customerId: "x", minPosition: 9, waitMs: null) { total } }'
    )
    printed = bounded(document)
    assert printed.count(f"waitMs: {WAIT_CAP_MS}") == 3 and "waitMs: -1" in printed
