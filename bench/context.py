"""What every scenario gets: the plan, the cluster, the loaded database and the report so far."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any

from bench.cluster import Cluster, Service
from bench.dataset import Dataset
from bench.plan import Plan
from bench.report import Figure


@dataclass
class BenchContext:
    """Shared state of one bench run; scenarios add figures and details."""

    plan: Plan
    cluster: Cluster
    started: float = field(default_factory=time.monotonic)
    database_url: str = ""  # the loaded, projected database (scenarios 3, 4, 6, 7, 8)
    dataset: Dataset | None = None
    api: Service | None = None  # the Orderly API process on database_url
    projector: Service | None = None
    services: dict[str, Service] = field(default_factory=dict)  # shared servers by role (bench/servers.py)
    unavailable: dict[str, str] = field(default_factory=dict)  # baselines that could not run, and why
    figures: list[Figure] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    loadgen: list[dict[str, Any]] = field(default_factory=list)

    def log(self, message: str) -> None:
        """Progress on stderr, with the time since the start."""
        print(f"[bench {time.monotonic() - self.started:7.1f}s] {message}", file=sys.stderr, flush=True)

    def add(self, figure: Figure) -> None:
        """Record a table row."""
        self.figures.append(figure)
