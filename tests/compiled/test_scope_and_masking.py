"""On the compiled road, resolvers run inside the operation's log scope, and an unexpected error
is masked and logged with its traceback, as on strawberry's road."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from eventstore import log_context
from projections.order_views.queries import OrderView
from resolvers.compiled_operations import CompiledOperations
from resolvers.graphql_schema import OrderlySchema, build_schema
from schema.context import Context, Services
from schema.loaders import build_loaders
from schema.principal import OPEN
from tests.conftest import fresh_database_url
from tests.support.server import running_server, server_settings

READ = 'query Read { order(orderId: "%s") { orderId status } }'


class RecordingOrders:
    """Order reads that note the log scope they run in; "broken" fails as a defect would."""

    def __init__(self) -> None:
        self.scopes: list[dict[str, object]] = []

    async def get(self, order_id: str) -> OrderView | None:
        self.scopes.append(dict(log_context.current()))
        if order_id == "broken":
            raise RuntimeError("the read model broke")
        return None


async def run_twice(schema: OrderlySchema, services: Services, query: str) -> list[tuple[dict[str, Any], bool]]:
    """Both roads in turn (the first request parses and validates the document), as the view runs them."""
    answers = []
    for _ in range(2):
        before = CompiledOperations.taken
        context = Context(services=services, loaders=build_loaders(services.customers, cache=True), principal=OPEN)
        result = await schema.execute_compiled(query, None, context, None, None)
        if result is None:
            result = await schema.execute(query, context_value=context)
        response: dict[str, Any] = {"data": result.data}
        if result.errors:
            response["errors"] = [error.formatted for error in result.errors]
        answers.append((response, CompiledOperations.taken == before + 1))
    return answers


async def test_the_scope_and_the_masking_are_the_same_on_both_roads(
    sqlite_template: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    orders = RecordingOrders()
    async with fresh_database_url("sqlite", sqlite_template, tmp_path) as url:
        async with running_server(server_settings(url, run_projectors=False)) as server:
            assert server.container.services is not None
            services = replace(server.container.services, orders=orders)
            schema = build_schema(log_scope=True)

            missing = await run_twice(schema, services, READ % "missing")
            assert [compiled for _, compiled in missing] == [False, True]
            assert missing[0][0] == missing[1][0] == {"data": {"order": None}}
            assert orders.scopes == [{"operation_name": "Read", "operation_type": "query"}] * 2

            with caplog.at_level(logging.ERROR, logger="schema.errors"):
                broken = await run_twice(schema, services, READ % "broken")
    assert [compiled for _, compiled in broken] == [False, True]
    assert broken[0][0] == broken[1][0]
    [error] = broken[1][0]["errors"]
    assert (error["message"], error["path"]) == ("Internal server error", ["order"])
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    logged = [record for record in caplog.records if record.getMessage().startswith("unexpected error at")]
    assert len(logged) == 2
    assert all(record.exc_info and "the read model broke" in str(record.exc_info[1]) for record in logged)
