"""PostGraphile 4 (Node) serving the same database, with the connection-filter plugin so
that searchOrders has an equivalent list query. bench/setup.sh installs both npm packages
into NODE_PREFIX; when Node or the packages are missing the baseline is "unavailable"."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from bench.cluster import Cluster, Service, free_port

NODE_PREFIX = Path(os.environ.get("BENCH_NODE_PREFIX", Path.home() / ".cache" / "orderly-bench" / "postgraphile"))
PLUGIN = "postgraphile-plugin-connection-filter"

ORDER_FIELDS = "orderId customerId status items itemCount totalAmount shippingAddress createdAt version"
ORDER_BY_ID = "query($id: String!) { orderViewByOrderId(orderId: $id) { FIELDS } }".replace("FIELDS", ORDER_FIELDS)
CUSTOMER_ORDERS = (
    "query($customerId: String!) { allOrderViews(condition: {customerId: $customerId}, "
    "orderBy: [CREATED_AT_DESC, ORDER_ID_ASC], first: 20) { totalCount nodes { FIELDS } } }".replace("FIELDS", ORDER_FIELDS)
)
SEARCH_ORDERS = (
    "query($term: String!, $status: String!) { allOrderViews(filter: {searchText: {includesInsensitive: $term}, "
    "status: {equalTo: $status}}, orderBy: [CREATED_AT_DESC, ORDER_ID_ASC], first: 20) "
    "{ totalCount nodes { FIELDS } } }".replace("FIELDS", ORDER_FIELDS)
)


def problem() -> str | None:
    """Why PostGraphile cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (NODE_PREFIX / "node_modules" / ".bin" / "postgraphile").exists():
        return f"postgraphile is not installed in {NODE_PREFIX} (run bench/setup.sh)"
    if not (NODE_PREFIX / "node_modules" / PLUGIN).exists():
        return f"{PLUGIN} is not installed in {NODE_PREFIX} (run bench/setup.sh)"
    return None


def start(cluster: Cluster, database_url: str) -> Service:
    """Serve the database's public schema on a free port; ready when returned."""
    port = free_port()
    argv = [
        "node", str(NODE_PREFIX / "node_modules" / ".bin" / "postgraphile"),
        "-c", database_url, "--host", "127.0.0.1", "--port", str(port),
        "--disable-graphiql", "--disable-query-log", "--append-plugins", PLUGIN,
    ]
    env = {"NODE_PATH": str(NODE_PREFIX / "node_modules"), "NODE_ENV": "production"}
    service = cluster.start("postgraphile", argv, env, port)
    service.wait_ready("/graphql", method="POST", body=b'{"query":"{ __typename }"}', timeout=90)
    return service
