"""Over GraphQL, on SQLite and PostgreSQL: an event of a type this server does not know parks its order.

Waits on that order fail with PROJECTION_FAILED while other orders go on; a command on it
fails masked (INTERNAL_SERVER_ERROR, logged with its traceback) and writes nothing; the
parked row says why without SQL, paths or driver text; admins see the event as stored
(orderEvents) and a skip passes it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from eventstore.codec import UnknownEventTypeError
from orderly.settings import Settings
from tests.api.authorization_support import auth_settings, bearer
from tests.api.operations import ADD_ITEM
from tests.api.test_parked_streams import (
    ADMIN,
    ORDER,
    PARKED,
    SKIP,
    codes,
    create,
    eventually,
    graphql,
    parked_rows,
    projected,
)
from tests.projections.test_unreadable_events import gift_wrapped, insert_unreadable, stream_length
from tests.support.server import RunningServer, running_server

EVENTS = "query($id: ID!) { orderEvents(orderId: $id) { version type data } }"


@pytest.fixture
async def server(database_url: str) -> AsyncIterator[RunningServer]:
    """Auth on; a failing batch is tried twice, then its poison stream parks."""
    settings: Settings = auth_settings(database_url).with_changes(projection_retries=1)
    async with running_server(settings) as running:
        yield running


async def test_an_event_of_an_unknown_type_parks_its_order_and_a_skip_passes_it(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    customer = "cust-unreadable"
    me = bearer(customer, "customer")
    good, bad = await create(server, me, customer), await create(server, me, customer)
    unreadable = gift_wrapped(bad)
    await insert_unreadable(server.container.database, bad, 2, unreadable)
    added = await graphql(server, me, ADD_ITEM, {"input": {"orderId": good, "productId": "p", "quantity": 1, "price": "1"}})
    assert added["data"]["addOrderItem"]["version"] == 2

    async def parked_in_both() -> bool:
        return {row["projection"] for row in await parked_rows(server)} == {"order_views", "customer_summaries"}

    await eventually(parked_in_both)
    rows = await parked_rows(server)
    assert {(row["streamId"], row["version"], row["eventType"], row["error"]) for row in rows} == {
        (bad, 2, "order.gift_wrapped", unreadable.error)
    }
    # Admins looking into it see the event as stored.
    listed = await graphql(server, ADMIN, EVENTS, {"id": bad})
    assert [(event["version"], event["type"], event["data"]) for event in listed["data"]["orderEvents"]][1:] == [
        (2, "order.gift_wrapped", unreadable.data)
    ]
    waited = await graphql(server, me, ORDER, {"id": bad, "v": 2, "w": 10_000})
    assert codes(waited) == ["PROJECTION_FAILED"]
    assert (await projected(server, me, good, 2))["version"] == 2

    # The write path cannot fold the order: masked for the client, logged with its traceback, nothing written.
    with caplog.at_level(logging.ERROR):
        refused = await graphql(server, me, ADD_ITEM, {"input": {"orderId": bad, "productId": "q", "quantity": 1, "price": "1"}})
    (error,) = refused["errors"]
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR"} and error["message"] == "Internal server error"
    assert "gift_wrapped" not in str(refused)
    assert any(isinstance(record.exc_info[1], UnknownEventTypeError) for record in caplog.records if record.exc_info)
    assert await stream_length(server.container.database, bad) == 2

    skipped = await graphql(server, ADMIN, SKIP, {"id": bad})
    assert {row["request"] for row in skipped["data"]["skipParkedEvent"]} == {"SKIP"}

    async def released() -> bool:
        return await parked_rows(server) == []

    await eventually(released)
    passed = await projected(server, me, bad, 2)
    assert passed == {"version": 2, "itemCount": 2}  # the skipped event changed nothing
    rows_after = await graphql(server, ADMIN, PARKED)
    assert rows_after["data"]["parkedStreams"] == []
