"""Operation limits (ORDERLY_LIMIT_*): each refusal is LIMIT_EXCEEDED naming its limit, on POST,
GET and both WebSocket protocols; the cost rule counts what Orderly's operations cost; the parse
and validation cache is bounded in bytes; the settings read every limit."""

from __future__ import annotations

import asyncio
from typing import Any

import graphql
import pytest

from orderly.limit_settings import OperationLimits
from orderly.settings import Settings, SettingsError
from resolvers.document_cache import DocumentCache
from resolvers.document_limits import DocumentLimits
from resolvers.document_shape import count_repeats, count_selections
from resolvers.graphql_schema import build_schema
from resolvers.operation_cost import operation_cost
from schema.read_gate import GatedOrderQueries, request_reads
from tests.support.graphql_client import LEGACY_WS, TRANSPORT_WS, websocket
from tests.support.server import RunningServer

SCHEMA = build_schema()


def refusal(errors: list[Any] | None) -> str:
    """The limit named by the one LIMIT_EXCEEDED error of a refused request."""
    assert errors, "the request was not refused"
    [error] = errors
    extensions = error.extensions if isinstance(error, graphql.GraphQLError) else error["extensions"]
    assert extensions["code"] == "LIMIT_EXCEEDED", errors
    return str(extensions["limit"])


def aliases(count: int, field: str = 'order(orderId: "o") { orderId }') -> str:
    return "{ " + " ".join(f"a{index}: {field}" for index in range(count)) + " }"


def cost(query: str, variables: dict[str, Any] | None = None) -> int:
    return operation_cost(SCHEMA._schema, graphql.parse(query), None, variables)


# Settings


def test_every_limit_has_a_default_and_a_setting() -> None:
    assert Settings.from_mapping({}).operation_limits == OperationLimits() == OperationLimits.from_mapping({})
    names = {
        "ORDERLY_LIMIT_DOCUMENT_BYTES": "max_document_bytes", "ORDERLY_LIMIT_TOKENS": "max_tokens",
        "ORDERLY_LIMIT_SELECTIONS": "max_selections", "ORDERLY_LIMIT_REPEATS": "max_repeats",
        "ORDERLY_LIMIT_DEPTH": "max_depth",
        "ORDERLY_LIMIT_ALIASES": "max_aliases", "ORDERLY_LIMIT_MUTATIONS": "max_mutations",
        "ORDERLY_LIMIT_COST": "max_cost", "ORDERLY_LIMIT_CONCURRENT_READS": "max_concurrent_reads",
        "ORDERLY_LIMIT_RESPONSE_BYTES": "max_response_bytes",
        "ORDERLY_LIMIT_CACHED_DOCUMENT_BYTES": "max_cached_document_bytes",
        "ORDERLY_LIMIT_DOCUMENT_CACHE_BYTES": "document_cache_bytes",
    }
    limits = Settings.from_mapping({name: str(index + 7) for index, name in enumerate(names)}).operation_limits
    assert {name: getattr(limits, field) for name, field in names.items()} == {
        name: index + 7 for index, name in enumerate(names)}
    assert set(names.values()) == set(DocumentLimits.__dataclass_fields__)
    with pytest.raises(SettingsError, match="ORDERLY_LIMIT_COST"):
        Settings.from_mapping({"ORDERLY_LIMIT_COST": "0"})


# The document limits, in process (no resolver runs for a refused document)


@pytest.mark.parametrize(("query", "limit"), [
    ('{ order(orderId: "' + "x" * 40_000 + '") { orderId } }', "documentBytes"),
    ("{ projections { name } } # " + "é" * 20_000, "documentBytes"),
    ('{ order(orderId: "o") { items { productId } } } ' + "query Q($v: [Int] = [" + "1 " * 6_000 + "]) { __typename }",
     "tokens"),
    ("{ searchOrders { " + "total " * 300 + "} }", "selections"),
    ("{ order(orderId: \"o\") { ...A } } " + " ".join(
        f"fragment {name} on Order {{ ...{following} ...{following} }}"
        for name, following in zip("ABCDEFGHIJKLMNOPQRST", "BCDEFGHIJKLMNOPQRSTU", strict=True)
    ) + " fragment U on Order { orderId }", "selections"),
    ("{ __schema { ...S } } fragment S on __Schema { types { ...T } queryType { name } } "
     "fragment T on __Type { name kind fields { name args { name type { name } } } }", None),
    ("{ " + 'order(orderId: "o") { orderId } ' * 11 + "}", "repeats"),
    ("{ __schema { " + "types { name } " * 10 + "} }", None),
    ("{ __schema { types { name } } " + "__schema { types { name } } " * 9 + "}", None),
    ("{ searchOrders { " + "items { orderId } " * 6 + "} " + "searchOrders { items { orderId } } " * 5 + "}",
     "repeats"),  # 6 + 5 `items` compared together
    ("{ searchOrders { " + " ".join(f"...F{index}" for index in range(11)) + " } } " + " ".join(
        f"fragment F{index} on OrderPage {{ t{index}: total }}" for index in range(11)), "repeats"),
    (aliases(51), "aliases"),
    ("mutation { " + " ".join(
        f'a{index}: cancelOrder(input: {{orderId: "o", reason: "r"}}) {{ orderId }}' for index in range(11)) + " }",
     "mutations"),
    (aliases(30, 'searchOrders(pageSize: 100) { items { orderId } }'), "cost"),
])
async def test_a_document_over_a_limit_is_refused_before_anything_runs(query: str, limit: str | None) -> None:
    result = await SCHEMA.execute(query)
    if limit is None:  # the control: within every limit, it runs
        assert result.errors is None and result.data is not None
        return
    assert result.data is None
    assert refusal(result.errors) == limit


async def test_depth_counts_through_fragments() -> None:
    schema = build_schema(limits=DocumentLimits(max_depth=2))
    deep = "{ searchOrders { ...P } } fragment P on OrderPage { items { ...O } } fragment O on Order { customer { customerId } }"
    assert refusal((await schema.execute(deep)).errors) == "depth"
    shallow = "{ searchOrders { ...P } } fragment P on OrderPage { items { ...O } } fragment O on Order { orderId }"
    errors = (await schema.execute(shallow, context_value=None)).errors or []
    assert "LIMIT_EXCEEDED" not in [error.extensions["code"] for error in errors]  # it ran (without a context)


async def test_the_same_refusal_over_a_subscription_stream() -> None:
    stream = await SCHEMA.subscribe("subscription { orderUpdated(orderId: \"" + "x" * 40_000 + "\") { orderId } }")
    results = [result async for result in stream]  # type: ignore[union-attr]
    assert len(results) == 1 and refusal(results[0].errors) == "documentBytes"


def test_repeats_gather_the_children_of_repeated_parents_and_merge_fragments() -> None:
    nested = "{ " + " ".join(["order(orderId: \"o\") { " + "items { productId } " * 3 + "}"] * 3) + " }"
    assert count_repeats(graphql.parse(nested)) == 9
    merged = ("{ order(orderId: \"o\") { orderId ...A ... on Order { orderId ...A } } } "
              "fragment A on Order { orderId ...B } fragment B on Order { orderId ...A }")
    assert count_repeats(graphql.parse(merged)) == 4  # A and B merged once each, cycles cut
    assert count_repeats(graphql.parse("{ a: order(orderId: \"o\") { orderId } b: order(orderId: \"p\") { orderId } }")) == 1


def test_selections_count_each_fragment_once_however_often_it_is_spread() -> None:
    fan_out = "{ order(orderId: \"o\") { ...F0 } } " + " ".join(
        f"fragment F{level} on Order {{ ...F{level + 1} ...F{level + 1} }}" for level in range(60)
    ) + " fragment F60 on Order { orderId }"
    assert count_selections(graphql.parse(fan_out)) > 2**60  # counted in microseconds, not walked
    cycle = "{ order(orderId: \"o\") { ...A } } fragment A on Order { orderId ...B } fragment B on Order { ...A }"
    assert count_selections(graphql.parse(cycle)) == 5


# The cost rule


@pytest.mark.parametrize(("query", "expected"), [
    ('{ order(orderId: "o") { orderId items { productId } } }', 1),
    ('{ order(orderId: "o") { customer { orderCount } } }', 2),
    ('{ order(orderId: "o", minVersion: 2) { orderId } }', 1 + 20),  # the default wait, 2 s
    ('{ order(orderId: "o", minVersion: 2, waitMs: 10000) { orderId } }', 1 + 100),
    ('{ order(orderId: "o", waitMs: 10000) { orderId } }', 1),  # no minVersion: no wait
    ('{ customer(customerId: "c") { orderCount } }', 1),
    ('{ customerOrders(customerId: "c") { total items { orderId } } }', 2 + 20),
    ('{ searchOrders(pageSize: 100) { items { orderId } } }', 10 + 100),
    ('{ searchOrders(pageSize: 100) { items { customer { orderCount } } } }', 10 + 100 * 2),  # nested: multiplied
    ('{ searchOrders(pageSize: 100, minPosition: 5, waitMs: 500) { total } }', 10 + 5),
    ('{ a: searchOrders { total } b: searchOrders { total } }', 20),  # each alias counted
    ('{ orderEvents(orderId: "o") { type } projections { name } }', 4),
    ('{ searchOrders(pageSize: 5) { ...Page } customerOrders(customerId: "c", pageSize: 7) { ...Page } } '
     "fragment Page on OrderPage { items { customer { orderCount } } }", 10 + 5 * 2 + 2 + 7 * 2),
    ('mutation { a: shipOrder(input: {orderId: "o"}) { version } b: shipOrder(input: {orderId: "p"}) { version } }', 20),
    ('subscription { orderProjected(orderId: "o", minVersion: 1, timeoutMs: 3600000) { version } }', 1 + 100),
    ("{ __schema { types { name fields { name } } } }", 0),
])
def test_the_cost_counts_reads_rows_and_waits(query: str, expected: int) -> None:
    assert cost(query) == expected


def test_the_cost_reads_variables_and_bounds_what_is_refused_later() -> None:
    query = "query($size: Int, $wait: Int) { searchOrders(pageSize: $size, minPosition: 1, waitMs: $wait) { items { orderId } } }"
    assert cost(query, {"size": 50, "wait": 1000}) == 10 + 10 + 50
    assert cost(query, {}) == 10 + 20 + 20  # the defaults
    assert cost(query, {"size": 10**9, "wait": -5}) == 10 + 0 + 100  # BAD_USER_INPUT later, not a cost


# The cache


def test_the_cache_is_bounded_in_bytes_and_keeps_only_small_documents() -> None:
    cache = DocumentCache(max_entry_bytes=100, max_total_bytes=250)
    document = graphql.parse("{ __typename }")
    assert cache.put("big", document, 101) is None and cache.get("big") is None
    for name in "abcde":
        cache.put(name, document, 60)
    assert cache.size <= 250 and len(cache) == 4
    assert cache.get("a") is None and cache.get("e") is not None  # least recently used first


async def test_a_repeated_document_is_parsed_and_validated_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import resolvers.document_parsing as parsing
    import resolvers.document_validation as validation

    calls = {"parse": 0, "validate": 0}
    real_parse, real_validate = parsing.parse, validation.validate_document

    def counting_parse(*args: Any, **kwargs: Any) -> Any:
        calls["parse"] += 1
        return real_parse(*args, **kwargs)

    def counting_validate(*args: Any, **kwargs: Any) -> Any:
        calls["validate"] += 1
        return real_validate(*args, **kwargs)

    monkeypatch.setattr(parsing, "parse", counting_parse)
    monkeypatch.setattr(validation, "validate_document", counting_validate)
    schema = build_schema()
    for _ in range(3):
        assert (await schema.execute("{ __typename }")).data == {"__typename": "Query"}
    assert calls == {"parse": 1, "validate": 1}
    large = "{ __typename } # " + "x" * DocumentLimits().max_cached_document_bytes
    for _ in range(3):
        assert (await schema.execute(large)).data == {"__typename": "Query"}
    assert calls == {"parse": 4, "validate": 4}  # above the size: never kept


async def test_distinct_documents_do_not_grow_the_cache_past_its_budget() -> None:
    limits = DocumentLimits(document_cache_bytes=5_000)
    schema = build_schema(limits=limits)
    for index in range(300):
        query = "{ " + " ".join(f"f{index}_{field}: __typename" for field in range(20)) + " }"
        result = await schema.execute(query)
        assert result.errors is None
    cache = next(
        cell.cell_contents
        for factory in schema.extensions
        for cell in getattr(factory, "__closure__", None) or ()
        if isinstance(cell.cell_contents, DocumentCache)
    )
    assert 4_000 < cache.size <= 5_000


# The read gate


async def test_one_request_holds_at_most_its_share_of_reads() -> None:
    running = peak = 0

    class SlowOrders:
        async def get(self, order_id: str) -> None:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.01)
            running -= 1

    orders = GatedOrderQueries(SlowOrders())  # type: ignore[arg-type]
    with request_reads(3):
        await asyncio.gather(*(orders.get(str(index)) for index in range(30)))
    assert peak == 3
    running = peak = 0
    await asyncio.gather(*(orders.get(str(index)) for index in range(30)))  # outside a request: no gate
    assert peak == 30


# What a client sees, on every transport

QUERY_OVER = {
    "depth": ("{ searchOrders { items { ...A } } } fragment A on Order { customer { ...C } } "
              "fragment C on CustomerSummary { customerId }"),
    "aliases": aliases(60),
    "cost": aliases(4, "searchOrders { total }"),
    "responseBytes": "{ __schema { types { name description } } }",
}
SUBSCRIPTION_OVER = {
    "documentBytes": 'subscription { orderUpdated(orderId: "' + "x" * 40_000 + '") { orderId } }',
    "selections": "subscription { orderUpdated(orderId: \"o\") { " + "orderId " * 300 + "} }",
    "cost": 'subscription { orderProjected(orderId: "o", minVersion: 1, timeoutMs: 10000) { orderId } }',
}


@pytest.fixture
async def strict_api(server_factory: Any) -> Any:
    """A server with low depth, cost and response limits, so small documents show every refusal."""
    limits = OperationLimits(max_depth=2, max_cost=30, max_response_bytes=1_000)
    async with server_factory(operation_limits=limits) as server:
        yield server


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_refusals_over_http_are_200_with_the_limit(strict_api: RunningServer, method: str) -> None:
    for limit, query in QUERY_OVER.items():
        if method == "POST":
            response = await strict_api.http.post(strict_api.url, json={"query": query})
        else:
            response = await strict_api.http.get(strict_api.url, params={"query": query})
        assert response.status_code == 200, response.text
        body = response.json()
        assert "data" not in body and refusal(body["errors"]) == limit
    response = await strict_api.http.post(strict_api.url, json={"query": SUBSCRIPTION_OVER["documentBytes"]})
    assert response.status_code == 200 and refusal(response.json()["errors"]) == "documentBytes"


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_refusals_over_websocket_are_the_operations_error(strict_api: RunningServer, protocol: str) -> None:
    async with websocket(strict_api.url, protocol) as socket:
        for limit, query in SUBSCRIPTION_OVER.items():
            subscription = await socket.subscribe(query)
            kind, errors = await subscription.next_message()
            assert kind == "error" and refusal(errors) == limit
        ok = await socket.subscribe(
            'subscription { projectionCaughtUp(name: "order_views", position: 0, timeoutMs: 1000) { name } }')
        assert await ok.next_message() == ("next", {"data": {"projectionCaughtUp": {"name": "order_views"}}})
