"""Real Orderly processes (through the CLI) on loopback ports, for multi-process tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from tests.support.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]


class OrderlyProcess:
    """One `orderly ...` subprocess with its own log file."""

    def __init__(self, args: list[str], env: Mapping[str, str], log_dir: Path, name: str) -> None:
        self.args = args
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._env = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Launch it."""
        log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "orderly.cli", *self.args],
            cwd=ROOT,
            env=self._env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        """SIGKILL: no cleanup, as a crash."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not stop."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    @property
    def alive(self) -> bool:
        """Still running."""
        return self._process is not None and self._process.poll() is None

    def log(self) -> str:
        """What it printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class ApiProcess(OrderlyProcess):
    """`orderly serve` on a free port."""

    def __init__(self, env: Mapping[str, str], log_dir: Path, name: str, *, projectors: bool) -> None:
        self.port = free_port()
        args = ["serve", "--port", str(self.port)] + ([] if projectors else ["--no-projectors"])
        super().__init__(args, env, log_dir, name)

    @property
    def url(self) -> str:
        """Its GraphQL endpoint."""
        return f"http://127.0.0.1:{self.port}/graphql"

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Block until /healthz answers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive:
                raise RuntimeError(f"{self.name} exited:\n{self.log()}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=0.5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not become healthy:\n{self.log()}")
