"""What a client and an operator see of the compiled mutations over HTTP: the road is taken for a
repeated POSTed mutation, and authentication, roles, per-customer authorization, idempotency,
conflicts, the operation metrics, the log scope and the masking of unexpected errors still hold."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from domain.commands import Command
from domain.ports import AppendResult
from eventstore import log_context
from orderly.auth.settings import AuthSettings
from orderly.metrics_settings import MetricsSettings
from resolvers.compiled_mutations import CompiledMutations
from resolvers.graphql_schema import build_schema
from schema.context import Context
from schema.loaders import build_loaders
from schema.principal import OPEN
from tests.api.authorization_support import SECRET, bearer
from tests.api.operations import CREATE, SHIP, order_input
from tests.compiled.test_mutations import post_request
from tests.conftest import fresh_database_url
from tests.support.server import RunningServer, running_server, server_settings


def customer(name: str) -> dict[str, str]:
    return bearer(name, "customer")


async def post(server: RunningServer, query: str, variables: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any, bool]:
    """Status, body, and whether the compiled mutation road answered it."""
    before = CompiledMutations.taken
    response = await server.http.post(server.url, json={"query": query, "variables": variables}, headers=headers)
    return response.status_code, response.json(), CompiledMutations.taken == before + 1


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
async def server(database_url: str) -> AsyncIterator[RunningServer]:
    settings = server_settings(database_url, auth=AuthSettings(jwt_secret=SECRET), metrics=MetricsSettings(enabled=True))
    async with running_server(settings) as running:
        yield running


async def test_a_repeated_mutation_is_compiled_and_keeps_every_rule(server: RunningServer) -> None:
    alice, bob = f"alice-{uuid.uuid4().hex[:6]}", f"bob-{uuid.uuid4().hex[:6]}"
    create = f"{CREATE} # {uuid.uuid4()}"
    status, first, compiled = await post(server, create, {"input": order_input(alice)}, customer(alice))
    assert (status, compiled) == (200, False)  # parsed and validated on strawberry's road, then kept
    assert first["data"]["createOrder"]["version"] == 1
    value = order_input(alice, commandId="retry-me")
    status, made, compiled = await post(server, create, {"input": value}, customer(alice))
    assert (status, compiled) == (200, True)
    # Idempotency: the same commandId and input replays the first result; another input is refused.
    _, again, compiled = await post(server, create, {"input": value}, customer(alice))
    assert compiled and again == made
    other = order_input(alice, commandId="retry-me", items=[{"productId": "other", "quantity": 1, "price": "1.00"}])
    _, reused, compiled = await post(server, create, {"input": other}, customer(alice))
    assert compiled and reused["data"] is None
    assert (reused["errors"][0]["path"], reused["errors"][0]["extensions"]["code"]) == (["createOrder"], "BAD_USER_INPUT")
    # The same orderId again: a conflict.
    existing = made["data"]["createOrder"]["orderId"]
    _, conflict, compiled = await post(server, create, {"input": order_input(alice, orderId=existing)}, customer(alice))
    assert compiled and conflict["errors"][0]["extensions"]["code"] == "CONCURRENCY_CONFLICT"

    # Authentication is the view's, before either road.
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        status, body, compiled = await post(server, create, {"input": order_input(alice)}, headers)
        assert (status, compiled) == (401, False)
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # A customer naming another customer: FORBIDDEN at the field's path and location, nothing written.
    _, refused, compiled = await post(server, create, {"input": order_input(alice)}, customer(bob))
    assert compiled and refused["data"] is None
    [error] = refused["errors"]
    assert (error["path"], error["extensions"]["code"]) == (["createOrder"], "FORBIDDEN")
    assert error["locations"] == [{"line": 3, "column": 3}]
    # A bad input value: ValidInput's BAD_USER_INPUT naming the argument's path.
    _, blank, compiled = await post(server, create, {"input": order_input(alice, commandId=" ")}, customer(alice))
    assert compiled and blank["errors"][0]["message"].startswith("input.commandId")
    assert blank["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    # A value graphql-core refuses while coercing the variable: strawberry's road answers it.
    _, typed, compiled = await post(server, create, {"input": order_input(alice, items=[{"productId": "p"}])}, customer(alice))
    assert not compiled and "data" not in typed and typed["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    # Roles: a customer may not ship.
    for _ in range(2):
        _, ship, _ = await post(server, SHIP, {"input": {"orderId": existing}}, customer(alice))
    assert ship["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    staff = bearer("staff-1", "staff")
    _, shipped, compiled = await post(server, SHIP, {"input": {"orderId": existing, "expectedVersion": 1}}, staff)
    assert compiled and shipped["data"]["shipOrder"]["version"] == 2


async def test_a_mutation_over_get_is_refused_every_time(server: RunningServer) -> None:
    alice = f"alice-{uuid.uuid4().hex[:6]}"
    await post(server, CREATE, {"input": order_input(alice)}, customer(alice))  # the document is cached
    params = {"query": CREATE, "variables": json.dumps({"input": order_input(alice)})}
    for _ in range(2):
        before = CompiledMutations.taken
        response = await server.http.get(server.url, params=params, headers=customer(alice))
        assert response.status_code in {400, 405}
        assert CompiledMutations.taken == before


async def test_compiled_mutations_are_counted_as_strawberrys_are(server: RunningServer) -> None:
    alice, bob = f"alice-{uuid.uuid4().hex[:6]}", f"bob-{uuid.uuid4().hex[:6]}"
    await post(server, CREATE, {"input": order_input(alice)}, customer(alice))  # cached
    labels = {"operation": "Create", "type": "mutation"}
    timed = sample("orderly_graphql_operation_seconds_count", **labels)
    forbidden = sample("orderly_graphql_errors_total", **labels, code="FORBIDDEN")
    _, _, compiled = await post(server, CREATE, {"input": order_input(alice)}, customer(alice))
    assert compiled
    _, _, compiled = await post(server, CREATE, {"input": order_input(alice)}, customer(bob))
    assert compiled
    assert sample("orderly_graphql_operation_seconds_count", **labels) == timed + 2
    assert sample("orderly_graphql_errors_total", **labels, code="FORBIDDEN") == forbidden + 1


class BrokenCommands:
    """A command bus that notes the log scope and fails as a defect would."""

    def __init__(self) -> None:
        self.scopes: list[dict[str, object]] = []

    async def dispatch(self, command: Command) -> AppendResult:
        self.scopes.append(dict(log_context.current()))
        raise RuntimeError("the store broke")


async def test_the_scope_and_the_masking_are_the_same_on_both_roads(
    sqlite_template: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    commands = BrokenCommands()
    async with fresh_database_url("sqlite", sqlite_template, tmp_path) as url:
        async with running_server(server_settings(url, run_projectors=False)) as server:
            assert server.container.services is not None
            services = replace(server.container.services, commands=commands)
            schema = build_schema(log_scope=True)
            value = {"input": order_input("alice", commandId="broken-1")}
            answers = []
            with caplog.at_level(logging.ERROR, logger="schema.errors"):
                for _ in range(2):
                    before = CompiledMutations.taken
                    context = Context(
                        services=services, loaders=build_loaders(services.customers, cache=True), principal=OPEN,
                        request=post_request(),
                    )
                    result = await schema.execute_compiled(CREATE, value, context, None, None)
                    if result is None:
                        result = await schema.execute(CREATE, variable_values=value, context_value=context)
                    answers.append(([error.formatted for error in result.errors or []], result.data))
                    assert (CompiledMutations.taken == before + 1) == (len(answers) == 2)
    assert answers[0] == answers[1]
    [error] = answers[1][0]
    assert (error["message"], error["path"], error["extensions"]["code"]) == (
        "Internal server error", ["createOrder"], "INTERNAL_SERVER_ERROR"
    )
    scope = {"operation_name": "Create", "operation_type": "mutation", "command_id": "broken-1"}
    assert [{key: seen.get(key) for key in scope} for seen in commands.scopes] == [scope, scope]
    logged = [record for record in caplog.records if record.getMessage().startswith("unexpected error at")]
    assert len(logged) == 2
    assert all(record.exc_info and "the store broke" in str(record.exc_info[1]) for record in logged)
