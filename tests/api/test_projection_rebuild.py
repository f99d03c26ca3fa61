"""The `projections` query shows a blue-green rebuild under way (ProjectionStatus.rebuild), and a rebuild
done while the server runs leaves what clients read unchanged."""

from __future__ import annotations

from typing import Any

from projections.checkpoints import read_checkpoint
from tests.api.operations import CREATE, ORDER_FIELDS, order_input
from tests.projections.conftest import eventually
from tests.support.server import RunningServer

PROJECTIONS = """
{ projections { name position headPosition state
    rebuild { generation version position headPosition eventsPerSecond etaSeconds startedAt } } }
"""
ORDER = f"query($id: ID!) {{ order(orderId: $id) {{ {ORDER_FIELDS} }} }}"


async def _projections(api: RunningServer) -> dict[str, Any]:
    return {row["name"]: row for row in (await api.gql.data(PROJECTIONS))["projections"]}


async def test_the_projections_query_shows_the_rebuild_and_then_none(api: RunningServer) -> None:
    created = (await api.gql.data(CREATE, {"input": order_input()}))["createOrder"]
    container = api.container
    rebuild = container.rebuild("order_views")
    await eventually(lambda: _applied(api, int(created["position"])))
    async with container.read_models.reader.connect() as conn:
        live = await read_checkpoint(conn, "order_views")
    assert live is not None
    order_before = await api.gql.data(ORDER, {"id": created["orderId"]})

    await rebuild.prepare(live)  # a rebuild that has just begun: generation 2, nothing applied yet
    during = await _projections(api)

    assert during["customer_summaries"]["rebuild"] is None
    progress = during["order_views"]["rebuild"]
    assert progress["generation"] == 2 and progress["version"] == 1
    assert progress["position"] == "0" or progress["position"] == 0
    assert int(progress["headPosition"]) >= int(created["position"])
    assert progress["eventsPerSecond"] is None and progress["etaSeconds"] is None
    assert progress["startedAt"] is not None

    outcome = await rebuild.run()  # resumes the shadow it prepared and switches

    assert outcome.generation == 2
    after = await _projections(api)
    assert after["order_views"]["rebuild"] is None
    assert int(after["order_views"]["position"]) >= int(created["position"])
    assert await api.gql.data(ORDER, {"id": created["orderId"]}) == order_before


async def _applied(api: RunningServer, position: int) -> bool:
    status = await api.container.statuses()
    return all(view.position >= position for view in status)
