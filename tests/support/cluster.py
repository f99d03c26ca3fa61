"""Real processes on PostgreSQL + Redis: each test gets a fresh database and its own bus namespace."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import ApiProcess, OrderlyProcess


class Cluster:
    """Starts API and projector processes sharing one database and one Redis namespace."""

    def __init__(self, database_url: str, redis_url: str, log_dir: Path) -> None:
        self.env = {
            "ORDERLY_DATABASE_URL": database_url,
            "ORDERLY_REDIS_URL": redis_url,
            "ORDERLY_BUS_NAMESPACE": f"test-{uuid.uuid4().hex[:12]}",
            "ORDERLY_POLL_INTERVAL": "0.5",
            "ORDERLY_LOG_LEVEL": "WARNING",
        }
        self.log_dir = log_dir
        self.processes: list[OrderlyProcess] = []
        self._count = 0

    def api(self, *, projectors: bool = False, **env: str) -> ApiProcess:
        """An `orderly serve` process, healthy when returned."""
        self._count += 1
        process = ApiProcess({**self.env, **env}, self.log_dir, f"api-{self._count}", projectors=projectors)
        self.processes.append(process)
        process.start()
        process.wait_ready()
        return process

    def projector(self, **env: str) -> OrderlyProcess:
        """An `orderly project` process."""
        self._count += 1
        process = OrderlyProcess(["project"], {**self.env, **env}, self.log_dir, f"projector-{self._count}")
        self.processes.append(process)
        process.start()
        return process

    def stop_all(self) -> None:
        """Stop every process this cluster started."""
        for process in self.processes:
            process.stop()


@pytest.fixture
def cluster(postgres_url: str, redis_url: str, tmp_path: Path) -> Iterator[Cluster]:
    """A cluster over a fresh PostgreSQL database; process logs are printed when a test fails."""
    cluster = Cluster(postgres_url, redis_url, tmp_path)
    try:
        yield cluster
    finally:
        cluster.stop_all()
        for process in cluster.processes:
            print(f"----- {process.name} -----\n{process.log()[-4000:]}")
