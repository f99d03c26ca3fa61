"""The execution step: the cost checked first, the database reads gated, the response measured.

- Before anything runs, the operation's cost (resolvers/operation_cost.py, with this request's
  variables) is checked against ORDERLY_LIMIT_COST: 50 searchOrders(pageSize: 100) or 200
  createOrder aliases are refused before the first resolver starts.
- While it runs, its reads take at most ORDERLY_LIMIT_CONCURRENT_READS places in the pool
  (schema/read_gate.py).
- After it ran, data whose JSON is over ORDERLY_LIMIT_RESPONSE_BYTES is replaced by a
  refusal: the cost bounds the rows, this bounds what they weigh (an order holds up to 100
  items). Measuring costs one orjson encoding of the data, a few microseconds for an order.

An exception raised here is caught by strawberry on every road (HTTP and both WebSocket
protocols) and becomes the request's error, which schema.errors codes LIMIT_EXCEEDED.
"""

from __future__ import annotations

from collections.abc import Iterator

import orjson
from graphql import ExecutionResult
from strawberry.extensions import SchemaExtension

from resolvers.document_limits import COST, RESPONSE_BYTES, limit_error
from resolvers.operation_cost import operation_cost
from schema.errors import LimitExceededError, assign_codes
from schema.read_gate import request_reads


class OperationBudget(SchemaExtension):
    """Refuses an operation over its cost, gates its reads, refuses a response over its size."""

    def __init__(self, *, max_cost: int, max_concurrent_reads: int, max_response_bytes: int) -> None:
        self.max_cost = max_cost
        self.max_concurrent_reads = max_concurrent_reads
        self.max_response_bytes = max_response_bytes

    def on_execute(self) -> Iterator[None]:
        """Check the cost, run with the read gate, then measure the data."""
        execution_context = self.execution_context
        document = execution_context.graphql_document
        if document is not None:
            cost = operation_cost(
                execution_context.schema._schema,  # noqa: SLF001
                document,
                execution_context.operation_name,
                execution_context.variables,
            )
            if cost > self.max_cost:
                raise LimitExceededError(
                    COST, f"The operation costs {cost} (reads, rows and waits); at most {self.max_cost} is allowed"
                )
        with request_reads(self.max_concurrent_reads):
            yield
        result = execution_context.result
        if isinstance(result, ExecutionResult):
            refuse_oversized(result, self.max_response_bytes)


def refuse_oversized(result: ExecutionResult, max_response_bytes: int) -> None:
    """Replace data whose JSON is over the limit by a LIMIT_EXCEEDED error (errors already coded)."""
    if result.data is None:
        return
    try:
        size = len(orjson.dumps(result.data))
    except (TypeError, orjson.JSONEncodeError):
        return  # not JSON as it stands: the transport's encoder decides
    if size > max_response_bytes:
        error = limit_error(
            RESPONSE_BYTES,
            (
                f"The response would be {size} bytes; at most {max_response_bytes} are allowed: "
                "ask for fewer rows or fields"
            ),
        )
        # strawberry has coded this result's errors already, before this hook's exit.
        assign_codes([error])
        result.data = None
        result.errors = [error]
