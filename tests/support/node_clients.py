"""The npm clients in tests/clients (graphql-ws, ws, graphql-http), installed with `npm ci` on first use."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

from tests.support.services import skip_or_fail

CLIENTS = Path(__file__).resolve().parent.parent / "clients"


@cache
def _install_problem() -> str | None:
    """Why the node clients cannot run here, or None once node_modules is in place."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "node and npm are needed for the JavaScript client tests"
    if (CLIENTS / "node_modules" / ".package-lock.json").exists():
        return None
    try:
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=CLIENTS, check=True,
                       capture_output=True, timeout=300)
    except (OSError, subprocess.SubprocessError) as error:
        return f"npm ci failed in {CLIENTS}: {error}"
    return None


def require_node_clients() -> None:
    """Install the clients if needed; skip the test (fail under ORDERLY_REQUIRE_SERVICES=1) if impossible."""
    problem = _install_problem()
    if problem is not None:
        skip_or_fail(problem)


async def run_node(script: str, *args: str, timeout: float = 60.0) -> tuple[int, Any]:
    """Run a script of tests/clients without blocking the event loop (the server runs on it);
    its exit code and the JSON it printed last."""
    process = await asyncio.create_subprocess_exec(
        "node", script, *args, cwd=CLIENTS, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    lines = stdout.decode().strip().splitlines()
    assert lines, f"{script} printed nothing; stderr: {stderr.decode()}"
    return process.returncode or 0, json.loads(lines[-1])
