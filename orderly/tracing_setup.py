"""Turn OpenTelemetry tracing on when OTEL_EXPORTER_OTLP_ENDPOINT is set and orderly[otel] is installed.

Everything else is the OpenTelemetry SDK's own configuration, read from its usual variables
(OTEL_SERVICE_NAME, OTEL_EXPORTER_OTLP_HEADERS, OTEL_TRACES_SAMPLER, ...). Spans leave in
batches over OTLP/HTTP (protobuf) from a background thread; the process flushes them when it
exits. Without the variable, or without the packages, nothing of OpenTelemetry is imported
and eventstore/tracing.py's hooks stay no-ops.
"""

from __future__ import annotations

import atexit
import logging
import os
from collections.abc import Mapping
from typing import Any

from eventstore import tracing
from orderly.setting_values import SettingsError

log = logging.getLogger(__name__)

ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
SERVICE = "orderly"


def configure_tracing(env: Mapping[str, str] | None = None) -> bool:
    """Install an OTLP-exporting tracer when the endpoint is set; whether tracing is on."""
    env = os.environ if env is None else env
    endpoint = env.get(ENDPOINT, "").strip()
    if not endpoint:
        return False
    if not endpoint.startswith(("http://", "https://")):
        raise SettingsError(f"{ENDPOINT}={endpoint!r}: must be an http:// or https:// URL (the OTLP/HTTP collector)")
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning("%s is set but OpenTelemetry is not installed (pip install 'orderly[otel]'): no traces", ENDPOINT)
        return False
    provider = tracer_provider(env)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    atexit.register(provider.shutdown)  # flush the spans still queued
    install_provider(provider)
    log.info("tracing: spans go to %s", endpoint)
    return True


def tracer_provider(env: Mapping[str, str]) -> Any:
    """An SDK TracerProvider named after OTEL_SERVICE_NAME (default "orderly"), with no processor yet."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    return TracerProvider(resource=Resource.create({"service.name": env.get("OTEL_SERVICE_NAME") or SERVICE}))


def install_provider(provider: Any) -> None:
    """Trace Orderly's operations, appends, batches and subscription messages with this provider."""
    tracing.install(provider.get_tracer("orderly"))
