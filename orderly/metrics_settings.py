"""ORDERLY_METRICS_* settings: where a process serves its Prometheus metrics (nowhere by default)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from orderly.setting_values import SettingsError, boolean, non_negative_int, port, positive_float, read
from resolvers.operation_metrics import MAX_OPERATION_NAMES

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


@dataclass(frozen=True, kw_only=True)
class MetricsSettings:
    """`enabled`: GET /metrics on the API's own port (admins only when authentication is on);
    `port`: a separate listener on `host` (loopback unless changed), for `orderly project` too."""

    enabled: bool = False
    port: int | None = None
    host: str = "127.0.0.1"
    scrape_timeout: float = 5.0  # seconds for the database reads of one scrape
    operation_names: int = MAX_OPERATION_NAMES  # distinct operation names used as label values

    @property
    def collecting(self) -> bool:
        """Whether this process serves metrics anywhere (operation metrics run only then)."""
        return self.enabled or self.port is not None

    @classmethod
    def from_mapping(cls, env: Mapping[str, str]) -> MetricsSettings:
        """Read the metrics settings from env; PROMETHEUS_MULTIPROC_DIR is refused."""
        if env.get(MULTIPROC_VARIABLE):
            # prometheus_client would keep every counter in files of that directory and this
            # process's /metrics would show only its own part: each Orderly process serves its own
            # series (one event loop per process, no forked workers), so scrape each process.
            raise SettingsError(
                f"{MULTIPROC_VARIABLE} is set: Orderly does not use prometheus_client's multiprocess mode; "
                "each process serves its own /metrics (see ORDERLY_METRICS_PORT), unset it"
            )
        d = cls()
        return cls(
            enabled=read(env, "ORDERLY_METRICS", boolean, d.enabled),
            port=read(env, "ORDERLY_METRICS_PORT", port, d.port),
            host=read(env, "ORDERLY_METRICS_HOST", str, d.host),
            scrape_timeout=read(env, "ORDERLY_METRICS_SCRAPE_TIMEOUT", positive_float, d.scrape_timeout),
            operation_names=read(env, "ORDERLY_METRICS_OPERATION_NAMES", non_negative_int, d.operation_names),
        )
