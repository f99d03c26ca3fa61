"""The instruments at their hooks, without a server: append conflicts on both SQL backends, inbox
overflows, the bound on operation names and codes, and the metrics settings."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from strawberry.extensions import SchemaExtension

from domain.errors import ConcurrencyConflictError
from eventstore.database import Database
from eventstore.fanout import Inbox
from eventstore.messages import RESYNC
from eventstore.redis_bus import RedisBus
from orderly.bootstrap import build_container, open_event_store
from orderly.metrics_exporter import MetricsExporter
from orderly.metrics_settings import MetricsSettings
from orderly.settings import Settings, SettingsError
from resolvers.graphql_schema import build_schema
from resolvers.operation_metrics import ANONYMOUS, OTHER, OperationMetrics, OperationNames, code_label
from tests.eventstore.test_store_contract import created, shipped, stamp
from tests.metrics.scrape import parse
from tests.support.redis_server import free_port


def sample(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def sample_labelled(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_an_append_conflict_is_counted(database: Database) -> None:
    store = open_event_store(database)
    order_id = f"order-{uuid.uuid4().hex[:10]}"
    await store.append(order_id, "order", [created(order_id, "5")], expected_version=0, command=stamp())
    before = sample("orderly_append_conflicts_total")
    with pytest.raises(ConcurrencyConflictError):
        await store.append(order_id, "order", [shipped(order_id)], expected_version=0, command=stamp())
    assert sample("orderly_append_conflicts_total") == before + 1
    await store.append(order_id, "order", [shipped(order_id)], expected_version=1, command=stamp())
    assert sample("orderly_append_conflicts_total") == before + 1


def test_an_overflowing_inbox_is_counted_once_per_overflow() -> None:
    inbox = Inbox(size=2)
    before = sample("orderly_inbox_overflows_total")
    for _ in range(2):
        inbox.put(object())  # type: ignore[arg-type]
    assert sample("orderly_inbox_overflows_total") == before
    inbox.put(object())  # type: ignore[arg-type]
    assert sample("orderly_inbox_overflows_total") == before + 1


def test_operation_names_are_bounded_to_validated_names_first_come() -> None:
    names = OperationNames(limit=2)
    assert names.label(None, valid=True) == ANONYMOUS
    assert names.label("Invented", valid=False) == OTHER
    assert names.label("Create", valid=True) == "Create"
    assert names.label("Order", valid=True) == "Order"
    assert names.label("Third", valid=True) == OTHER
    assert names.label("Create", valid=False) == "Create"  # known already: the same operation, now failing


def test_codes_outside_the_contract_are_other() -> None:
    assert code_label("NOT_FOUND") == "NOT_FOUND"
    assert code_label("INTERNAL_SERVER_ERROR") == "INTERNAL_SERVER_ERROR"
    assert code_label("cust-123") == "OTHER"
    assert code_label(None) == "OTHER"


def test_metrics_are_off_by_default_and_read_from_the_environment() -> None:
    assert Settings.from_mapping({}).metrics == MetricsSettings()
    assert not MetricsSettings().collecting
    read = MetricsSettings.from_mapping(
        {
            "ORDERLY_METRICS": "on",
            "ORDERLY_METRICS_PORT": "9464",
            "ORDERLY_METRICS_HOST": "0.0.0.0",
            "ORDERLY_METRICS_OPERATION_NAMES": "0",
        }
    )
    assert (read.enabled, read.port, read.host, read.collecting) == (True, 9464, "0.0.0.0", True)
    assert read.operation_names == 0  # every named operation is "other"
    assert MetricsSettings.from_mapping({"ORDERLY_METRICS_PORT": "0"}).collecting  # 0: any free port


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"ORDERLY_METRICS": "maybe"}, "ORDERLY_METRICS="),
        ({"ORDERLY_METRICS_PORT": "70000"}, "ORDERLY_METRICS_PORT="),
        ({"ORDERLY_METRICS_SCRAPE_TIMEOUT": "0"}, "ORDERLY_METRICS_SCRAPE_TIMEOUT="),
        ({"ORDERLY_METRICS_OPERATION_NAMES": "-1"}, "ORDERLY_METRICS_OPERATION_NAMES="),
        ({"PROMETHEUS_MULTIPROC_DIR": "/tmp/prom"}, "PROMETHEUS_MULTIPROC_DIR"),
    ],
)
def test_a_bad_metrics_setting_is_a_clear_error(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_mapping(env)


async def test_a_scrape_without_the_database_answers_with_database_up_zero(tmp_path: Path) -> None:
    unreachable = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    container = build_container(Settings(database_url=unreachable), api=False)
    exporter = MetricsExporter(container, MetricsSettings(enabled=True, scrape_timeout=5.0))
    await exporter.start()
    try:
        body, media_type = await exporter.render(None)
    finally:
        await exporter.stop()
        await container.database.dispose()
    samples = parse(body.decode())
    assert media_type.startswith("text/plain")
    assert samples[("orderly_metrics_database_up", frozenset())] == 0
    assert not any(name == "orderly_projection_lag_events" for name, _ in samples)
    text = body.decode()
    assert "nowhere" not in text and "Errno" not in text and "127.0.0.1" not in text and "Unavailable" not in text


async def test_a_metrics_port_in_use_is_a_clear_error(sqlite_template: Path, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        container = build_container(Settings(database_url=f"sqlite:///{sqlite_template}"), api=False)
        exporter = MetricsExporter(container, MetricsSettings(port=port))
        try:
            with pytest.raises(SettingsError, match=f"ORDERLY_METRICS_PORT={port}: cannot listen on 127.0.0.1:{port}"):
                await exporter.start()
        finally:
            await container.database.dispose()


def test_operation_metrics_hook_the_operation_never_a_field() -> None:
    extensions = build_schema(metrics=OperationNames()).get_extensions()
    metered = [extension for extension in extensions if isinstance(extension, OperationMetrics)]
    assert len(metered) == 1
    # No resolve(): strawberry installs no middleware for it, so LeafFieldExecutionContext keeps its fast path.
    assert type(metered[0]).resolve is SchemaExtension.resolve
    assert not any(isinstance(extension, OperationMetrics) for extension in build_schema().get_extensions())


@pytest.mark.redis
async def test_a_redis_connection_is_a_bus_resync(redis_url: str) -> None:
    before = sample_labelled("orderly_bus_resyncs_total", source="bus")
    bus = RedisBus(redis_url, namespace=f"metrics-{uuid.uuid4().hex[:8]}")
    async with bus.subscribe("anything") as inbox:
        await bus.start()
        try:
            assert bus.is_healthy()
            assert await inbox.get(timeout=5) is RESYNC
        finally:
            await bus.close()
    assert sample_labelled("orderly_bus_resyncs_total", source="bus") == before + 1
