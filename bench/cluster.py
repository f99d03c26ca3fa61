"""Everything the bench starts on loopback: PostgreSQL databases with random names and
processes (Orderly API and projector, the baselines, PostGraphile), all stopped and
dropped in close(), which __main__ runs on success, error, Ctrl-C and SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

from orderly.migrate import migrate

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    """One process the bench started, with its own log file and (maybe) a port."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    port: int | None = None

    @property
    def pid(self) -> int:
        """Its process id."""
        return self.process.pid

    @property
    def url(self) -> str:
        """Its GraphQL endpoint."""
        return f"http://127.0.0.1:{self.port}/graphql"

    @property
    def alive(self) -> bool:
        """Still running."""
        return self.process.poll() is None

    def log(self) -> str:
        """The tail of what it printed."""
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    def wait_ready(self, path: str = "/healthz", timeout: float = 60.0, method: str = "GET", body: bytes = b"") -> None:
        """Block until an HTTP request to path answers 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive:
                raise RuntimeError(f"{self.name} exited:\n{self.log()}")
            try:
                response = httpx.request(
                    method, f"http://127.0.0.1:{self.port}{path}", content=body or None,
                    headers={"content-type": "application/json"}, timeout=1.0,
                )
                if response.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not become ready:\n{self.log()}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM its process group, then SIGKILL if it lingers."""
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=5)


@dataclass
class Cluster:
    """Databases and processes of one bench run."""

    admin_url: str
    redis_url: str
    log_dir: Path
    namespace: str = field(default_factory=lambda: f"bench-{uuid.uuid4().hex[:10]}")
    databases: list[str] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)

    def url_for(self, name: str) -> str:
        """The URL of database `name` on the bench's server."""
        return self.admin_url.rsplit("/", 1)[0] + "/" + name

    async def create_database(self, *, migrated: bool = True) -> str:
        """A new database with a random name (migrated to head); dropped by close()."""
        name = f"orderly_bench_{uuid.uuid4().hex[:10]}"
        connection = await asyncpg.connect(self.admin_url, timeout=5)
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()
        self.databases.append(name)
        url = self.url_for(name)
        if migrated:
            await migrate(url)
        return url

    def orderly_env(self, database_url: str, **extra: str) -> dict[str, str]:
        """The environment of an Orderly process on this cluster."""
        return {
            "ORDERLY_DATABASE_URL": database_url,
            "ORDERLY_REDIS_URL": self.redis_url,
            "ORDERLY_BUS_NAMESPACE": self.namespace,
            "ORDERLY_LOG_LEVEL": "WARNING",
            # The limits stay on, set high: every bench client comes from 127.0.0.1 (one rate
            # bucket, one principal) at thousands of requests a second, and scenario 7 holds
            # 50,000 subscriptions.
            "ORDERLY_LIMIT_RATE": "1000000",
            "ORDERLY_LIMIT_RATE_BURST": "1000000",
            "ORDERLY_LIMIT_WS_SUBSCRIPTIONS_PER_PRINCIPAL": "100000",
            # Operation-level metrics are measured on, as an operator runs them (issue 13).
            "ORDERLY_METRICS": "on",
            **extra,
        }

    def start(self, name: str, argv: Sequence[str], env: Mapping[str, str], port: int | None = None) -> Service:
        """Launch a process in its own process group (Ctrl-C reaches only the bench)."""
        log_path = self.log_dir / f"{name}.log"
        log = log_path.open("ab")
        process = subprocess.Popen(
            list(argv),
            cwd=ROOT,
            env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        service = Service(name, process, log_path, port)
        self.services.append(service)
        return service

    def api(self, name: str, database_url: str) -> Service:
        """`orderly serve --no-projectors` on a free port, healthy when returned."""
        port = free_port()
        argv = [sys.executable, "-m", "orderly.cli", "serve", "--port", str(port), "--no-projectors"]
        service = self.start(name, argv, self.orderly_env(database_url), port)
        service.wait_ready()
        return service

    def projector(self, name: str, database_url: str) -> Service:
        """`orderly project`: both projections in one process."""
        argv = [sys.executable, "-m", "orderly.cli", "project"]
        return self.start(name, argv, self.orderly_env(database_url))

    def uvicorn(self, name: str, app: str, env: Mapping[str, str]) -> Service:
        """A baseline ASGI app under uvicorn, one worker, access log off; ready when returned."""
        port = free_port()
        argv = [
            sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
            "--workers", "1", "--log-level", "warning", "--no-access-log",
        ]
        service = self.start(name, argv, env, port)
        service.wait_ready("/healthz")
        return service

    def stop(self, service: Service) -> None:
        """Stop one service."""
        service.stop()

    async def close(self) -> None:
        """Stop every process, then drop every database (FORCE ends leftover sessions)."""
        for service in reversed(self.services):
            try:
                service.stop()
            except Exception as error:  # noqa: BLE001 - keep cleaning up
                print(f"bench: could not stop {service.name}: {error!r}", file=sys.stderr)
        connection = await asyncpg.connect(self.admin_url, timeout=5)
        try:
            for name in self.databases:
                await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()
        self.databases.clear()
