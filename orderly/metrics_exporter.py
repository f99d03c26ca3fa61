"""One process's Prometheus metrics: its own series, plus what the database knows, read at each scrape.

Per-process series (operations, batches, waits, sockets, the bus, pools) live in
prometheus_client's default registry and describe this process only; Prometheus sums them
over the processes it scrapes. The read side's state (checkpoints, lag in events and in
seconds, parked streams) is read from the database when scraped (ReadSideSeries), so every
process, API or projector, answers the same truth: aggregate those with max(), not sum().

The registry is rendered in a worker thread (prometheus_client's collectors are synchronous);
ReadSideSeries hands its reads to the process's event loop and waits for them there. The
separate listener (ORDERLY_METRICS_PORT) is prometheus_client's own threaded HTTP server.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from eventstore.database import Database
from orderly.bootstrap import Container
from orderly.metrics_settings import MetricsSettings
from orderly.setting_values import SettingsError
from projections.checkpoints import ProjectionState
from projections.lag import ReadSideTruth, read_truth
from projections.registry import PROJECTIONS

log = logging.getLogger(__name__)


class ProcessSeries(Collector):
    """Every instrument of this process (prometheus_client's default registry)."""

    def collect(self) -> Iterator[Metric]:
        """The default registry's metrics."""
        yield from REGISTRY.collect()


class PoolSeries(Collector):
    """The process's database pools: connections open and in use (SQLAlchemy's, and the raw asyncpg one)."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def collect(self) -> Iterator[Metric]:
        """Read the pools' counts now (plain integers: safe from another thread)."""
        in_use = GaugeMetricFamily("orderly_db_pool_connections_in_use", "Pooled connections checked out", labels=["pool"])
        opened = GaugeMetricFamily("orderly_db_pool_connections_open", "Connections the pool holds", labels=["pool"])
        pool: Any = self._database.engine.pool
        if hasattr(pool, "checkedout") and hasattr(pool, "checkedin"):
            in_use.add_metric(["sqlalchemy"], pool.checkedout())
            opened.add_metric(["sqlalchemy"], pool.checkedout() + pool.checkedin())
        raw = self._database.raw_pool_usage()
        if raw is not None:
            opened.add_metric(["asyncpg"], raw[0])
            in_use.add_metric(["asyncpg"], raw[1])
        yield in_use
        yield opened


class ReadSideSeries(Collector):
    """The read side as the database has it, read on the event loop at each scrape."""

    def __init__(
        self,
        read: Callable[[], Coroutine[Any, Any, ReadSideTruth]],
        loop: asyncio.AbstractEventLoop,
        timeout: float,
    ) -> None:
        self._read = read
        self._loop = loop
        self._timeout = timeout

    def collect(self) -> Iterator[Metric]:
        """Wait (in the scraping thread) for the loop to read the database, then describe it."""
        up = GaugeMetricFamily("orderly_metrics_database_up", "1 when this scrape could read the database, else 0")
        if _running_loop() is self._loop:  # waiting here for the loop would wait forever
            raise RuntimeError("render the registry off the event loop (MetricsExporter.render does)")
        future: concurrent.futures.Future[ReadSideTruth] | None = None
        try:
            read = self._read()
            try:
                future = asyncio.run_coroutine_threadsafe(read, self._loop)
            except RuntimeError:  # the loop has closed: the process is stopping
                read.close()
                raise
            truth = future.result(self._timeout)
        except Exception as error:  # noqa: BLE001 - a scrape reports the failure, it does not fail
            if future is not None:
                future.cancel()
            log.warning("metrics: could not read the read side's state: %r", error)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from describe(truth)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def describe(truth: ReadSideTruth) -> Iterator[Metric]:
    """The metric families of one reading of the read side."""
    head = GaugeMetricFamily("orderly_event_log_head_position", "The highest committed position of the event log")
    head.add_metric([], truth.head)
    position = GaugeMetricFamily("orderly_projection_position", "The projection's checkpoint", labels=["projection"])
    lag = GaugeMetricFamily(
        "orderly_projection_lag_events", "Events committed to the log and not yet applied", labels=["projection"]
    )
    waited = GaugeMetricFamily(
        "orderly_projection_lag_seconds",
        "How long the oldest unapplied event has waited (0 when caught up)",
        labels=["projection"],
    )
    state = GaugeMetricFamily("orderly_projection_state", "1 for the state the projection is in", labels=["projection", "state"])
    for projection in truth.projections:
        position.add_metric([projection.name], projection.position)
        lag.add_metric([projection.name], projection.lag_events)
        waited.add_metric([projection.name], projection.lag_seconds)
        for candidate in ProjectionState:
            state.add_metric([projection.name, candidate.value], 1 if candidate is projection.state else 0)
    parked = GaugeMetricFamily(
        "orderly_parked_streams", "Streams parked by a poison event, per projection", labels=["projection"]
    )
    for name in PROJECTIONS:
        parked.add_metric([name], truth.parked.get(name, 0))
    yield from (head, position, lag, waited, state, parked)


class MetricsExporter:
    """The registry a process renders for /metrics, and its optional separate listener."""

    def __init__(self, container: Container, settings: MetricsSettings) -> None:
        self._container = container
        self._settings = settings
        self.registry: CollectorRegistry | None = None
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None  # the separate listener's port, once started

    async def start(self) -> None:
        """Build the registry on the running loop; start the separate listener when configured."""
        loop = asyncio.get_running_loop()
        registry = CollectorRegistry()
        registry.register(ProcessSeries())
        registry.register(PoolSeries(self._container.database))
        registry.register(ReadSideSeries(self._read, loop, self._settings.scrape_timeout))
        self.registry = registry
        if self._settings.port is not None:
            host, port = self._settings.host, self._settings.port
            try:
                self._server, self._thread = start_http_server(port, addr=host, registry=registry)
            except OSError as error:
                raise SettingsError(
                    f"ORDERLY_METRICS_PORT={port}: cannot listen on {host}:{port} ({error.strerror or error})"
                ) from None
            self.port = self._server.server_port
            log.info("metrics on http://%s:%d/metrics", self._settings.host, self.port)

    async def stop(self) -> None:
        """Stop the separate listener."""
        if self._server is not None:
            server, self._server = self._server, None
            await asyncio.to_thread(server.shutdown)
            server.server_close()

    async def render(self, accept: str | None) -> tuple[bytes, str]:
        """The exposition (in the format `accept` asks for) and its media type."""
        if self.registry is None:
            raise RuntimeError("the metrics exporter is not started")
        encoder, media_type = choose_encoder(accept or "")
        registry = self.registry
        return await asyncio.to_thread(encoder, registry), media_type

    async def _read(self) -> ReadSideTruth:
        container = self._container
        return await read_truth(container.read_models, container.store, datetime.now(UTC))
