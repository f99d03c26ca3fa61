"""The edge's instruments (per process): open WebSocket connections and rate-limit refusals."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Gauge

OPEN_SOCKETS = Gauge("orderly_websocket_connections_open", "WebSocket connections this process is serving")
RATE_REFUSALS = Counter(
    "orderly_rate_limit_refusals",
    "Requests, WebSocket handshakes and operations refused by the per-principal rate limit (LIMIT_EXCEEDED rate)",
)


def observe_rate_refusal() -> None:
    """The rate limit refused a request, a handshake or an operation."""
    RATE_REFUSALS.inc()


@contextmanager
def open_socket() -> Iterator[None]:
    """Count a WebSocket connection as open while the block runs."""
    OPEN_SOCKETS.inc()
    try:
        yield
    finally:
        OPEN_SOCKETS.dec()
