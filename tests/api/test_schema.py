"""The served schema keeps the public contract, and the printed SDL matches the committed one."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from resolvers.graphql_schema import build_schema
from tests.support.server import RunningServer

ROOT = Path(__file__).resolve().parents[2]
CONTRACT_CHECK = ROOT.parent / "shared" / "tools" / "contract_check.py"
SDL = ROOT / "schema" / "schema.graphql"


def test_printed_sdl_matches_the_snapshot() -> None:
    printed = str(build_schema()) + "\n"
    assert printed == SDL.read_text(), "schema changed: run `orderly schema > schema/schema.graphql` and review"


@pytest.mark.skipif(not CONTRACT_CHECK.exists(), reason=f"{CONTRACT_CHECK} is absent (no ../shared here)")
async def test_the_served_schema_keeps_every_promise_of_the_contract(api: RunningServer) -> None:
    # The server runs in this event loop: the checker must not block it.
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(CONTRACT_CHECK), api.url, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, output.decode()
    assert "every promise kept" in output.decode()
